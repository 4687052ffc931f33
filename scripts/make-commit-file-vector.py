#!/usr/bin/env python3
# A second implementation of the committable file format (docs/FORMAT.md, "Committable secrets
# file"), from the spec alone: Python's `cryptography` for HKDF, ChaCha20-Poly1305 and HMAC, and
# the real `age` CLI for the wrap. It writes test/vectors/commit-file-v1.json, which the unit
# tests (packages/core/src/commit-file.test.ts) open with tvault's code. Run it only to change
# the vector: python3 scripts/make-commit-file-vector.py
import base64, hmac, hashlib, json, os, subprocess, tempfile
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes

def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
def hkdf(ikm, info): return HKDF(hashes.SHA256(), 32, None, info.encode()).derive(ikm)

file_key = bytes(range(32))
identity = subprocess.run(['age-keygen'], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
recipient = subprocess.run(['age-keygen', '-y'], input=identity, capture_output=True, text=True, check=True).stdout.strip()
with tempfile.TemporaryDirectory() as d:
    wrap = subprocess.run(['age', '-r', recipient], input=file_key, capture_output=True, check=True).stdout

value_key = hkdf(file_key, 'tvault-file v1 value')
mac_key = hkdf(file_key, 'tvault-file v1 mac')
values = [('API_KEY', b'sk-test-123', bytes([1]) * 12), ('DATABASE_URL', 'postgres://u:p@h/db ✓\nline2'.encode(), bytes([2]) * 12), ('EMPTY', b'', bytes([3]) * 12)]
lines = [f'#recipient {recipient} {b64u(wrap)}\n']
for name, value, nonce in values:
    sealed = nonce + ChaCha20Poly1305(value_key).encrypt(nonce, value, b'tvault-file v1 value\0' + name.encode())
    lines.append(f'{name}={b64u(sealed)}\n')
canonical = ('tvault-file v1\n' + ''.join(lines)).encode()
mac = hmac.new(mac_key, canonical, hashlib.sha256).digest()
text = f'#tvault-file v1 mac={b64u(mac)}\n' + ''.join(lines)
out = {
    'comment': 'made by scripts/make-commit-file-vector.py (Python cryptography + the age CLI), not by tvault',
    'identity': identity, 'recipient': recipient, 'file_key_hex': file_key.hex(),
    'value_key_hex': value_key.hex(), 'mac_key_hex': mac_key.hex(),
    'values': [{'name': n, 'value_b64': base64.b64encode(v).decode(), 'nonce_hex': nn.hex()} for n, v, nn in values],
    'file': text,
}
path = os.path.join(os.path.dirname(__file__), '..', 'test', 'vectors', 'commit-file-v1.json')
with open(path, 'w') as f: json.dump(out, f, indent=2, ensure_ascii=False); f.write('\n')
print(text)
