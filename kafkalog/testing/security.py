"""SASL and TLS for the local broker: keystores made with ``keytool``, listener settings, SCRAM users.

Everything secret is generated per run (random passwords, a fresh self-signed key pair) into the broker's
working directory; nothing here is meant to be committed. Brokers and controllers keep talking PLAINTEXT to
each other: only the client-facing listeners ``SASL_PLAINTEXT``, ``SSL`` and ``SASL_SSL`` are secured.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ._admin import admin_client
from ._errors import KafkaBrokerError
from ._process import find_jdk_tool, run_tool

__all__ = [
    "PROTOCOLS",
    "SASL_MECHANISMS",
    "SECURE_PROTOCOLS",
    "BrokerSecurity",
    "SaslUser",
    "TlsFiles",
    "make_keystore",
]

#: Client-facing listeners a secure broker adds next to PLAINTEXT (listener name == security protocol).
SECURE_PROTOCOLS: Final = ("SASL_PLAINTEXT", "SSL", "SASL_SSL")
PROTOCOLS: Final = ("PLAINTEXT", *SECURE_PROTOCOLS)
SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256")

_KEYTOOL_TIMEOUT_S: Final = 60.0
_SCRAM_TIMEOUT_S: Final = 30.0
_PLAIN_MODULE: Final = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM_MODULE: Final = "org.apache.kafka.common.security.scram.ScramLoginModule"


def _password(prefix: str) -> str:
    # Letters and digits only: it goes into a JAAS line in double quotes and into keytool's command line.
    return f"{prefix}-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class SaslUser:
    """A user the broker accepts with ``mechanism`` (``PLAIN`` or ``SCRAM-SHA-256``)."""

    name: str
    password: str = field(repr=False)
    mechanism: str


@dataclass(frozen=True)
class TlsFiles:
    """A PKCS12 keystore (key pair for CN=localhost, SAN localhost and 127.0.0.1) and its certificate as PEM.

    The certificate is self-signed, so ``ca_file`` is what clients trust (kafka-python's ``ssl_cafile``).
    """

    keystore: Path
    ca_file: Path
    password: str = field(repr=False)


def make_keystore(directory: Path, name: str = "server", *, common_name: str = "localhost") -> TlsFiles:
    """Generate ``<name>.p12`` and ``<name>-ca.pem`` in ``directory`` with ``keytool`` (about 1-2 s).

    Call it twice with different names for a certificate the broker's clients must *not* trust.
    """
    keytool = find_jdk_tool("keytool", "generate the TLS keystore of the local Kafka broker")
    directory.mkdir(parents=True, exist_ok=True)
    keystore = directory / f"{name}.p12"
    ca_file = directory / f"{name}-ca.pem"
    keystore.unlink(missing_ok=True)  # keytool refuses to add an alias that exists
    ca_file.unlink(missing_ok=True)
    password = _password("store")
    common = ["-keystore", str(keystore), "-storetype", "PKCS12", "-storepass", password]
    run_tool(
        [
            keytool, "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-validity", "30",
            "-dname", f"CN={common_name}", "-ext", "SAN=DNS:localhost,IP:127.0.0.1", "-keypass", password, *common,
        ],
        cwd=directory,
        timeout=_KEYTOOL_TIMEOUT_S,
        what="keytool -genkeypair",
    )
    run_tool(
        [keytool, "-exportcert", "-rfc", "-alias", "broker", "-file", str(ca_file), *common],
        cwd=directory,
        timeout=_KEYTOOL_TIMEOUT_S,
        what="keytool -exportcert",
    )
    return TlsFiles(keystore=keystore, ca_file=ca_file, password=password)


@dataclass(frozen=True, repr=False)
class BrokerSecurity:
    """What a secure :class:`~kafkalog.testing.LocalKafka` needs and what its clients must be told."""

    tls: TlsFiles
    plain_user: SaslUser
    scram_user: SaslUser

    @classmethod
    def generate(cls, directory: Path) -> BrokerSecurity:
        """New random credentials and a new keystore in ``directory``."""
        return cls(
            tls=make_keystore(directory),
            plain_user=SaslUser("alice", _password("alice"), "PLAIN"),
            scram_user=SaslUser("carol", _password("carol"), "SCRAM-SHA-256"),
        )

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_file

    @property
    def users(self) -> dict[str, SaslUser]:
        """Users by mechanism: ``{"PLAIN": alice, "SCRAM-SHA-256": carol}``."""
        return {user.mechanism: user for user in (self.plain_user, self.scram_user)}

    def server_properties(self) -> dict[str, str]:
        """Broker settings for the secure listeners (the listeners themselves are declared by the caller)."""
        plain = f'{_PLAIN_MODULE} required user_{self.plain_user.name}="{self.plain_user.password}";'
        scram = f"{_SCRAM_MODULE} required;"
        props = {
            "sasl.enabled.mechanisms": ",".join(SASL_MECHANISMS),
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.tls.keystore),
            "ssl.keystore.password": self.tls.password,
            "ssl.key.password": self.tls.password,
            "ssl.client.auth": "none",
        }
        for listener in ("sasl_plaintext", "sasl_ssl"):
            props[f"listener.name.{listener}.plain.sasl.jaas.config"] = plain
            props[f"listener.name.{listener}.scram-sha-256.sasl.jaas.config"] = scram
        return props

    def client_config(self, protocol: str, mechanism: str | None = None) -> dict[str, Any]:
        """kafka-python options for ``protocol``; SASL protocols need ``mechanism`` (``PLAIN`` or ``SCRAM-SHA-256``)."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
        config: dict[str, Any] = {"security_protocol": protocol}
        if protocol.startswith("SASL"):
            if mechanism not in SASL_MECHANISMS:
                raise ValueError(f"{protocol} needs mechanism= one of {list(SASL_MECHANISMS)}, got {mechanism!r}")
            user = self.users[mechanism]
            config.update(sasl_mechanism=mechanism, sasl_plain_username=user.name, sasl_plain_password=user.password)
        if protocol.endswith("SSL"):
            config.update(ssl_cafile=str(self.tls.ca_file), ssl_check_hostname=True)
        return config

    def create_scram_users(self, bootstrap: str, sasl_ssl_bootstrap: str, timeout: float = _SCRAM_TIMEOUT_S) -> None:
        """Create the SCRAM user through ``bootstrap`` (PLAINTEXT); wait until it can log in on ``sasl_ssl_bootstrap``.

        Idempotent, so it is safe after a restart. SCRAM credentials live in the cluster metadata, so brokers
        accept them a moment after the controller committed them: hence the login check.
        """
        from kafka.admin import UserScramCredentialUpsertion

        user = self.scram_user
        admin = admin_client(bootstrap, timeout)
        try:
            errors = admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(user.name, user.mechanism, user.password)]
            )
        finally:
            admin.close()
        if errors.get(user.name):
            raise KafkaBrokerError(f"could not create SCRAM user {user.name!r}: {errors[user.name]}")
        deadline = time.monotonic() + timeout
        reason = "not tried"
        while time.monotonic() < deadline:
            reason = self._login(sasl_ssl_bootstrap, user)
            if not reason:
                return
            time.sleep(0.2)
        raise KafkaBrokerError(f"SCRAM user {user.name!r} cannot log in after {timeout:.0f}s: {reason}")

    def _login(self, sasl_ssl_bootstrap: str, user: SaslUser) -> str:
        """Empty if ``user`` can log in and read metadata over SASL_SSL (so TLS works too), else why not."""
        try:
            admin = admin_client(sasl_ssl_bootstrap, 5.0, **self.client_config("SASL_SSL", user.mechanism))
        except Exception as exc:
            return repr(exc)
        try:
            admin.describe_cluster()
        except Exception as exc:
            return repr(exc)
        finally:
            admin.close()
        return ""

    def describe(self) -> str:
        """CA file and users, one per line, for the command line (passwords included: a throwaway test broker)."""
        lines = [f"ca_file={self.tls.ca_file}"]
        lines += [f"user[{u.mechanism}]={u.name}:{u.password}" for u in (self.plain_user, self.scram_user)]
        return "\n".join(lines)
