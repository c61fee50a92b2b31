"""Signing reports: an Ed25519 signature over the exact bytes of a report's manifest.json.

The manifest binds everything else (each file's sha256, the inputs, the policy, the provenance), so one
signature over its bytes binds every field of the report. The signature lives beside it in
``signature.json`` (algorithm, key id, public key, signature), so the manifest's bytes do not depend on the
key. Forces' networks are air-gapped: a local key pair, no keyless signing.

Where the private key lives: ``--key PATH``, else ``$FOIKIT_SIGNING_KEY``, else ``signing-key.pem`` in the
user's config folder (platformdirs). Its public half is written beside it as ``<name>.pub`` (PEM).
Which keys verify trusts: the project's ``keys/*.pub`` (the current folder's, and the one beside the
installed package), every ``.pub`` named by ``$FOIKIT_TRUSTED_KEYS`` (files or folders, separated by
``os.pathsep``), and the user's own signing key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from foikit.exceptions import FoikitError
from foikit.layout import SIGNATURE

SIGNED_FILE = "manifest.json"
ALGORITHM = "ed25519"
FORMAT = "foikit-signature/1"
KEY_ENV = "FOIKIT_SIGNING_KEY"
TRUSTED_ENV = "FOIKIT_TRUSTED_KEYS"
DEFAULT_KEY_NAME = "signing-key.pem"
KEYS_DIR = "keys"


class SigningError(FoikitError):
    """A signing key cannot be made, read or used."""


def default_key_path() -> Path:
    return platformdirs.user_config_path("foikit") / DEFAULT_KEY_NAME


def key_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The private key's location: ``explicit``, else $FOIKIT_SIGNING_KEY, else the user's config folder."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(KEY_ENV)
    return Path(env) if env else default_key_path()


def public_key_path(private: Path) -> Path:
    """Where the public half of ``private`` is written: beside it, ``<stem>.pub``."""
    return private.with_suffix(".pub")


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of the sha256 of its 32 raw bytes."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def _public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_key(path: str | os.PathLike[str] | None = None) -> tuple[Path, Path, str]:
    """Make a new key pair: the private key at ``path`` (mode 0600, never overwritten) and the public key
    beside it. Returns (private path, public path, key id)."""
    private = key_path(path)
    public_path = public_key_path(private)
    if private.suffix == ".pub":
        raise SigningError(f"{private}: a private key's file must not end in .pub (its public half goes there)")
    if private.exists():
        kid = key_id(load_key(private).public_key())
        raise SigningError(f"{private}: a signing key is already there (key id {kid}); move it away first to make "
                           "a new one")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        private.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        public_path.write_bytes(_public_pem(key.public_key()))
    except OSError as exc:
        raise SigningError(f"{exc.filename or private}: cannot write the signing key: {exc.strerror or exc}") from None
    return private, public_path, key_id(key.public_key())


def load_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SigningError(f"{path}: cannot read the signing key: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not an unencrypted Ed25519 private key in PEM ({str(exc)[:120]})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 private key ({type(key).__name__})")
    return key


def signing_key(path: str | os.PathLike[str] | None = None,
                log: Callable[[str], None] | None = None) -> Ed25519PrivateKey:
    """The key that signs new reports; when there is none yet at its location, one is made there and
    ``log`` (a callable taking one line) is told where."""
    private = key_path(path)
    if not private.exists():
        _, public, kid = generate_key(private)
        if log is not None:
            log(f"no signing key yet: created {private} (key id {kid}); give auditors {public} "
                f"(e.g. commit it as {KEYS_DIR}/<name>.pub)")
    return load_key(private)


def sign_report(folder: Path, key: Ed25519PrivateKey) -> Path:
    """Write ``folder/signature.json``: an Ed25519 signature over the exact bytes of its manifest."""
    body = (folder / SIGNED_FILE).read_bytes()
    public = key.public_key()
    signature = {
        "format": FORMAT,
        "algorithm": ALGORITHM,
        "signed_file": SIGNED_FILE,
        "signed_sha256": hashlib.sha256(body).hexdigest(),
        "key_id": key_id(public),
        "public_key": base64.b64encode(_raw(public)).decode("ascii"),
        "signature": base64.b64encode(key.sign(body)).decode("ascii"),
    }
    path = folder / SIGNATURE
    path.write_text(json.dumps(signature, indent=1) + "\n", encoding="utf-8")
    return path


def _read_public(path: Path) -> Ed25519PublicKey | None:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def trusted_keys() -> dict[str, str]:
    """Every trusted public key, by key id, with where it was found (a .pub file, or the own signing key).
    A file that is not an Ed25519 public key is ignored (it cannot make a signature trusted)."""
    files: list[Path] = []
    for folder in (Path(KEYS_DIR), Path(__file__).resolve().parents[2] / KEYS_DIR):
        if folder.is_dir():
            files += sorted(folder.glob("*.pub"))
    for item in filter(None, os.environ.get(TRUSTED_ENV, "").split(os.pathsep)):
        entry = Path(item)
        files += sorted(entry.glob("*.pub")) if entry.is_dir() else [entry]
    found: dict[str, str] = {}
    for path in files:
        if (public := _read_public(path)) is not None:
            found.setdefault(key_id(public), str(path))
    own = key_path()
    if own.is_file():
        with contextlib.suppress(SigningError):  # a broken own key trusts nothing; run reports it
            found.setdefault(key_id(load_key(own).public_key()), f"your signing key {own}")
    return found


@dataclass(frozen=True)
class SignatureCheck:
    """``state``: 'trusted', 'untrusted' (valid, by a key not trusted here), 'unsigned' or 'invalid'."""

    state: str
    message: str
    key_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "trusted"


def check_signature(folder: Path, manifest_bytes: bytes) -> SignatureCheck:
    """Check ``folder/signature.json`` against ``manifest_bytes`` (the manifest as read, once) and the
    trusted keys. Never raises for a bad signature file: it says what is wrong in one line."""
    path = folder / SIGNATURE
    if not path.exists():
        return SignatureCheck("unsigned", f"{path}: missing: the report is not signed, so nothing binds its "
                                          "manifest (inputs, policy, provenance)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        fields = {k: raw[k] for k in ("format", "algorithm", "signed_file", "key_id", "public_key", "signature")}
        if not all(isinstance(v, str) for v in fields.values()):
            raise ValueError("a field is not text")
        if (fields["format"], fields["algorithm"], fields["signed_file"]) != (FORMAT, ALGORITHM, SIGNED_FILE):
            raise ValueError(f"format/algorithm/signed_file must be {FORMAT}/{ALGORITHM}/{SIGNED_FILE}")
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(fields["public_key"], validate=True))
        signature = base64.b64decode(fields["signature"], validate=True)
    except KeyError as exc:
        return SignatureCheck("invalid", f"{path}: not a foikit signature: field {exc.args[0]!r} missing")
    except (OSError, ValueError, TypeError) as exc:  # JSONDecodeError, binascii.Error are ValueErrors
        return SignatureCheck("invalid", f"{path}: not a foikit signature: {str(exc).splitlines()[0][:120]}")
    kid = key_id(public)
    if kid != fields["key_id"]:
        return SignatureCheck("invalid", f"{path}: key id {fields['key_id'][:20]!r} is not that of its public key "
                                         f"({kid})", kid)
    try:
        public.verify(signature, manifest_bytes)
    except InvalidSignature:
        return SignatureCheck("invalid", f"{path}: the signature by key {kid} does not match {SIGNED_FILE}: the "
                                         "manifest was changed after it was signed", kid)
    trusted = trusted_keys()
    if kid in trusted:
        return SignatureCheck("trusted", f"signed by key {kid} (trusted: {trusted[kid]})", kid)
    return SignatureCheck("untrusted", f"signed by key {kid}, which is not a trusted key (none of {KEYS_DIR}/*.pub, "
                                       f"${TRUSTED_ENV}, your own signing key)", kid)
