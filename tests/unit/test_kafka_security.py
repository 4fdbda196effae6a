"""FUSEBOX_KAFKA_* security settings: their mapping to aiokafka options and Faust credentials, and
that every Kafka client Fusebox creates is given them."""
from __future__ import annotations

import ast
import ssl
import subprocess
from pathlib import Path

import faust
import pytest

from fusebox.kafka_security import KafkaSecurity

ROOT = Path(__file__).resolve().parents[2]
KAFKA_CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """A self-signed CA and a client certificate with its key, made with openssl."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca, key, csr, cert = (str(folder / name) for name in ("ca.key", "ca.pem", "client.key", "client.csr",
                                                                    "client.pem"))
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "1",
        "-subj", "/CN=fusebox-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=fusebox-client")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1")
    return {"ca": ca, "cert": cert, "key": key}


def test_plaintext_is_the_default_and_adds_no_option():
    security = KafkaSecurity.from_env({})
    assert security.protocol == "PLAINTEXT"
    assert security.client_options() == {}
    assert security.faust_credentials() is None


def test_sasl_over_tls_maps_to_aiokafka_options_and_faust_credentials(pki):
    security = KafkaSecurity.from_env({
        "FUSEBOX_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "FUSEBOX_KAFKA_SASL_MECHANISM": "scram-sha-512",
        "FUSEBOX_KAFKA_SASL_USERNAME": "fusebox", "FUSEBOX_KAFKA_SASL_PASSWORD": "s3cret",
        "FUSEBOX_KAFKA_SSL_CA_FILE": pki["ca"]})
    options = security.client_options()
    context = options.pop("ssl_context")
    assert options == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "fusebox", "sasl_plain_password": "s3cret"}
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [ca["subject"] for ca in context.get_ca_certs()] == [((("commonName", "fusebox-test-ca"),),)]
    credentials = security.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("fusebox", "s3cret")
    assert credentials.mechanism.value == "SCRAM-SHA-512" and credentials.protocol.value == "SASL_SSL"
    assert credentials.ssl_context.get_ca_certs() == context.get_ca_certs()


def test_sasl_without_tls_defaults_to_plain():
    security = KafkaSecurity.from_env({"FUSEBOX_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                                       "FUSEBOX_KAFKA_SASL_USERNAME": "u", "FUSEBOX_KAFKA_SASL_PASSWORD": "p"})
    assert security.client_options() == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                                         "sasl_plain_username": "u", "sasl_plain_password": "p"}
    credentials = security.faust_credentials()
    assert credentials.protocol.value == "SASL_PLAINTEXT" and credentials.mechanism.value == "PLAIN"


def test_mutual_tls_loads_the_client_certificate(pki):
    security = KafkaSecurity.from_env({"FUSEBOX_KAFKA_SECURITY_PROTOCOL": "SSL", "FUSEBOX_KAFKA_SSL_CA_FILE": pki["ca"],
                                       "FUSEBOX_KAFKA_SSL_CERT_FILE": pki["cert"],
                                       "FUSEBOX_KAFKA_SSL_KEY_FILE": pki["key"]})
    options = security.client_options()
    assert options["security_protocol"] == "SSL" and set(options) == {"security_protocol", "ssl_context"}
    credentials = security.faust_credentials()
    assert isinstance(credentials, faust.SSLCredentials) and credentials.protocol.value == "SSL"


@pytest.mark.parametrize(("environ", "message"), [
    pytest.param({"FUSEBOX_KAFKA_SECURITY_PROTOCOL": "TLS"}, "FUSEBOX_KAFKA_SECURITY_PROTOCOL must be one of",
                 id="an unknown protocol"),
    pytest.param({"FUSEBOX_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FUSEBOX_KAFKA_SASL_USERNAME": "u"},
                 "FUSEBOX_KAFKA_SASL_PASSWORD is required", id="SASL without a password"),
    pytest.param({"FUSEBOX_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "FUSEBOX_KAFKA_SASL_MECHANISM": "GSSAPI",
                  "FUSEBOX_KAFKA_SASL_USERNAME": "u", "FUSEBOX_KAFKA_SASL_PASSWORD": "p"},
                 "FUSEBOX_KAFKA_SASL_MECHANISM must be one of", id="an unsupported mechanism"),
    pytest.param({"FUSEBOX_KAFKA_SASL_USERNAME": "u"}, "FUSEBOX_KAFKA_SASL_USERNAME is set but",
                 id="SASL settings on a PLAINTEXT connection"),
    pytest.param({"FUSEBOX_KAFKA_SSL_CA_FILE": "/etc/hostname"}, "FUSEBOX_KAFKA_SSL_CA_FILE is set but",
                 id="a CA file without TLS"),
    pytest.param({"FUSEBOX_KAFKA_SECURITY_PROTOCOL": "SSL", "FUSEBOX_KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"},
                 "is not a file", id="a missing CA file"),
    pytest.param({"FUSEBOX_KAFKA_SECURITY_PROTOCOL": "SSL", "FUSEBOX_KAFKA_SSL_CERT_FILE": "/etc/hostname"},
                 "go together", id="a certificate without its key"),
])
def test_a_wrong_setting_stops_the_process_naming_the_variable(environ, message):
    with pytest.raises(SystemExit, match=message):
        KafkaSecurity.from_env(environ)


def kafka_client_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in sorted([*ROOT.glob("fusebox/**/*.py"), *ROOT.glob("services/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KAFKA_CLIENTS:
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


def test_every_kafka_client_of_the_code_is_given_the_security_options():
    calls = kafka_client_calls()
    # the places that make a client today (one consumer in topic_reader serves every reader of a topic)
    assert len(calls) >= 9, calls
    for where, call in calls:
        spread = [kw.value for kw in call.keywords if kw.arg is None]
        assert any(isinstance(v, ast.Call) and getattr(v.func, "id", None) == "kafka_client_options" for v in spread), \
            f"{where} creates a Kafka client without **kafka_client_options()"


def test_the_aggregators_faust_app_is_given_the_broker_credentials():
    source = (ROOT / "services" / "aggregator" / "app.py").read_text()
    app_calls = [node for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "AggregatorApp"]
    assert len(app_calls) == 1
    keywords = {kw.arg: ast.unparse(kw.value) for kw in app_calls[0].keywords}
    assert keywords["broker_credentials"] == "kafka_security().faust_credentials()"
