"""A minimal faust-streaming app: counts keys of a topic into a changelog-backed table."""
import os

import faust

app = faust.App(
    os.environ["PROBE_APP_ID"],
    broker=f"kafka://{os.environ['PROBE_BOOTSTRAP']}",
    store="memory://",
    topic_partitions=3,
    topic_replication_factor=1,
    web_enabled=False,
)
source = app.topic(os.environ["PROBE_TOPIC"], key_type=str, value_type=str, partitions=3)
counts = app.Table("counts", default=int, partitions=3)


@app.agent(source)
async def count(stream):
    async for key, _value in stream.items():
        counts[key] += 1
