"""Signing keys: where they live, how they are made, and the signature over a manifest's exact bytes."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization

from foikit.run.signing import (
    SigningError,
    check_signature,
    default_key_path,
    generate_key,
    key_id,
    key_path,
    load_key,
    sign_report,
    signing_key,
)

from .conftest import ROOT


def keygen(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foikit.cli", "keygen", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


def test_keygen_writes_a_private_key_only_its_owner_reads_and_the_public_key_beside_it(tmp_path):
    private = tmp_path / "keys" / "lead.pem"
    done = keygen("--key", str(private))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = serialization.load_pem_public_key((tmp_path / "keys" / "lead.pub").read_bytes())
    assert public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == \
        load_key(private).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = key_id(public)
    assert len(kid) == 16
    assert done.stdout.splitlines() == [
        f"{private}: signing key written (private: keep it, mode 0600); key id {kid}",
        f"{tmp_path}/keys/lead.pub: its public key: give it to auditors (e.g. commit it as keys/<name>.pub)",
    ]
    again = keygen("--key", str(private))  # a key is never overwritten
    assert again.returncode == 1
    assert again.stderr == (f"foikit: error: {private}: a signing key is already there (key id {kid}); move it "
                            "away first to make a new one\n")


def test_the_key_location_is_the_option_else_the_environment_else_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FOIKIT_SIGNING_KEY")
    assert default_key_path() == tmp_path / "config" / "foikit" / "signing-key.pem"
    assert key_path() == default_key_path()
    monkeypatch.setenv("FOIKIT_SIGNING_KEY", str(tmp_path / "env.pem"))
    assert key_path() == tmp_path / "env.pem"
    assert key_path(tmp_path / "given.pem") == tmp_path / "given.pem"


def test_a_run_without_a_key_makes_one_and_says_so_in_one_line(tmp_path):
    said = []
    key = signing_key(tmp_path / "new" / "signing-key.pem", log=said.append)
    kid = key_id(key.public_key())
    assert said == [f"no signing key yet: created {tmp_path}/new/signing-key.pem (key id {kid}); give auditors "
                    f"{tmp_path}/new/signing-key.pub (e.g. commit it as keys/<name>.pub)"]
    assert stat.S_IMODE((tmp_path / "new" / "signing-key.pem").stat().st_mode) == 0o600
    said.clear()
    assert key_id(signing_key(tmp_path / "new" / "signing-key.pem", log=said.append).public_key()) == kid
    assert said == []  # the existing key is used, silently


def test_a_broken_key_file_or_a_pub_name_is_one_line(tmp_path):
    done = keygen("--key", str(tmp_path / "x.pub"))
    assert done.stderr == (f"foikit: error: {tmp_path}/x.pub: a private key's file must not end in .pub (its "
                           "public half goes there)\n")
    assert not (tmp_path / "x.pub").exists()
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(SigningError, match=r"bad\.pem: not an unencrypted Ed25519 private key in PEM"):
        signing_key(bad)


def test_the_signature_is_over_the_exact_manifest_bytes(tmp_path):
    private, _, kid = generate_key(tmp_path / "k.pem")
    folder = tmp_path / "report"
    folder.mkdir()
    body = b'{"ref": "x"}\n'
    (folder / "manifest.json").write_bytes(body)
    sign_report(folder, load_key(private))
    signature = json.loads((folder / "signature.json").read_text())
    # checked independently of foikit's verify: the public key in the file verifies the manifest's bytes
    public = load_key(private).public_key()
    public.verify(base64.b64decode(signature["signature"]), body)
    assert signature["key_id"] == kid and base64.b64decode(signature["public_key"]) == \
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert check_signature(folder, body).state in {"trusted", "untrusted"}
    assert check_signature(folder, body.replace(b"x", b"y")).state == "invalid"
    for broken in ("{", "[]", json.dumps({**signature, "public_key": "!!"}),
                   json.dumps({**signature, "key_id": "0" * 16})):
        (folder / "signature.json").write_text(broken)
        check = check_signature(folder, body)
        assert check.state == "invalid" and check.message.startswith(f"{folder}/signature.json: "), check


def test_trust_comes_from_keys_folders_and_the_environment_not_from_the_report(tmp_path, monkeypatch):
    private, public, kid = generate_key(tmp_path / "a" / "k.pem")
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "manifest.json").write_bytes(b"{}")
    sign_report(folder, load_key(private))
    monkeypatch.chdir(tmp_path)
    assert check_signature(folder, b"{}").state == "untrusted"
    monkeypatch.setenv("FOIKIT_TRUSTED_KEYS", f"{tmp_path / 'missing.pub'}:{public}")
    check = check_signature(folder, b"{}")
    assert (check.state, check.message) == ("trusted", f"signed by key {kid} (trusted: {public})")
    monkeypatch.setenv("FOIKIT_SIGNING_KEY", str(private))  # one's own key is trusted too
    monkeypatch.delenv("FOIKIT_TRUSTED_KEYS")
    assert check_signature(folder, b"{}").message == f"signed by key {kid} (trusted: your signing key {private})"
