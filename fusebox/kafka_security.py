"""How every Fusebox Kafka client authenticates and encrypts: TLS and SASL from the environment.

One mapping from the FUSEBOX_KAFKA_* variables to aiokafka's client options, used by every aiokafka
client Fusebox creates (SDK, API, aggregator, replay, topic creation), and to Faust's broker
credentials for the aggregator's consumer group. The default, PLAINTEXT, adds no option at all.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
VARIABLES = {
    "protocol": "FUSEBOX_KAFKA_SECURITY_PROTOCOL",
    "sasl_mechanism": "FUSEBOX_KAFKA_SASL_MECHANISM",
    "sasl_username": "FUSEBOX_KAFKA_SASL_USERNAME",
    "sasl_password": "FUSEBOX_KAFKA_SASL_PASSWORD",
    "ca_file": "FUSEBOX_KAFKA_SSL_CA_FILE",
    "cert_file": "FUSEBOX_KAFKA_SSL_CERT_FILE",
    "key_file": "FUSEBOX_KAFKA_SSL_KEY_FILE",
}


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ca_file: str | None = None  # CA bundle the broker certificates are checked against (else the system's)
    cert_file: str | None = None  # client certificate, for brokers that require mutual TLS
    key_file: str | None = None

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "KafkaSecurity":
        """The settings of `environ`; a missing or contradictory one stops the process naming it."""
        values = {field: (environ.get(name) or "").strip() or None for field, name in VARIABLES.items()}
        protocol = (values.pop("protocol") or "PLAINTEXT").upper()
        if protocol not in PROTOCOLS:
            raise SystemExit(f"{VARIABLES['protocol']} must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        security = cls(protocol=protocol, **values)
        if security.uses_sasl:
            mechanism = (security.sasl_mechanism or "PLAIN").upper()
            if mechanism not in SASL_MECHANISMS:
                raise SystemExit(f"{VARIABLES['sasl_mechanism']} must be one of {', '.join(SASL_MECHANISMS)}, "
                                 f"got {security.sasl_mechanism!r}")
            for field in ("sasl_username", "sasl_password"):
                if getattr(security, field) is None:
                    raise SystemExit(f"{VARIABLES[field]} is required when {VARIABLES['protocol']} is {protocol}")
            security = dataclasses.replace(security, sasl_mechanism=mechanism)
        else:
            for field in ("sasl_mechanism", "sasl_username", "sasl_password"):
                if getattr(security, field) is not None:
                    raise SystemExit(f"{VARIABLES[field]} is set but {VARIABLES['protocol']} is {protocol}, "
                                     "which does not use SASL")
        if not security.uses_tls:
            for field in ("ca_file", "cert_file", "key_file"):
                if getattr(security, field) is not None:
                    raise SystemExit(f"{VARIABLES[field]} is set but {VARIABLES['protocol']} is {protocol}, "
                                     "which does not use TLS")
        if (security.cert_file is None) != (security.key_file is None):
            raise SystemExit(f"{VARIABLES['cert_file']} and {VARIABLES['key_file']} go together")
        for field in ("ca_file", "cert_file", "key_file"):
            path = getattr(security, field)
            if path is not None and not os.path.isfile(path):
                raise SystemExit(f"{VARIABLES[field]} names {path!r}, which is not a file")
        return security

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client context (hostname checked), or None without TLS."""
        if not self.uses_tls:
            return None
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(cafile=self.ca_file, certfile=self.cert_file, keyfile=self.key_file)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        if self.protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password)
        return options

    def faust_credentials(self):
        """Faust's `broker_credentials` for the same settings (None for PLAINTEXT)."""
        import faust

        if self.uses_sasl:
            return faust.SASLCredentials(username=self.sasl_username, password=self.sasl_password,
                                         mechanism=self.sasl_mechanism, ssl_context=self.ssl_context())
        if self.uses_tls:
            return faust.SSLCredentials(self.ssl_context())
        return None


@functools.cache
def kafka_security() -> KafkaSecurity:
    """This process's settings, read once."""
    return KafkaSecurity.from_env()


def kafka_client_options() -> dict[str, Any]:
    """This process's aiokafka client options; one SSL context shared by all its clients."""
    return dict(_process_client_options())


@functools.cache
def _process_client_options() -> tuple[tuple[str, Any], ...]:
    return tuple(kafka_security().client_options().items())
