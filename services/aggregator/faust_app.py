"""The aggregator's Faust app class: Faust's, with the consumer that feeds the input topics to the fold.

Faust builds its consumer through `App._new_transport`; overriding it is how the worker installs
`IntakeConsumer` (intake.py) without patching Faust.
"""
from __future__ import annotations

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from fusebox.aggregator.intake import Intake, IntakeConsumer


class IntakeTransport(faust_aiokafka.Transport):
    Consumer = IntakeConsumer


class AggregatorApp(faust.App):
    """A Faust app whose consumer feeds the input topics to `self.intake` (set before it starts)."""

    intake: Intake

    def _new_transport(self):
        return IntakeTransport(self.conf.broker_consumer, self)
