"""Seed corpora for tests/fuzz (run by ./make-seeds, which prepares WORK with the hfx tools).

usage: make-seeds.py REPO WORK CORPUS
"""

import base64
import glob
import hashlib
import json
import os
import shutil
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

repo, work, corpus = sys.argv[1:4]
ZONE, CENTRE, PEER = "huaihai", "320300000000000", "320100000000000"
ORIGIN = f"{ZONE}.hfx/{CENTRE}"
WITNESS = "witness.hfx-fuzz.example"
B64 = lambda b: base64.b64encode(b).decode()


def key(label):
    """src/lib.rs `key`: seed = SHA-256(label)."""
    k = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())
    pk = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return k, pk


root_k, root_pk = key("hfx-fuzz zone root")
witness_k, witness_pk = key("hfx-fuzz witness")
centre_k, centre_pk = key("hfx-fuzz centre")


def key_id(name, typ, pk):
    return hashlib.sha256(name.encode() + b"\n" + bytes([typ]) + pk).digest()[:4]


def vkey(name, pk):
    return f"{name}+{key_id(name, 1, pk).hex()}+{B64(bytes([1]) + pk)}"


def sign_note(text, name, k, pk):
    sig = k.sign(text.encode())
    return f"{text}\n\u2014 {name} {B64(key_id(name, 1, pk) + sig)}\n"


def cosign(text, ts=1796191876):
    msg = f"cosignature/v1\ntime {ts}\n{text}".encode()
    payload = key_id(WITNESS, 4, witness_pk) + ts.to_bytes(8, "big") + witness_k.sign(msg)
    return f"\u2014 {WITNESS} {B64(payload)}\n"


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def merkle_root(leaves):
    """RFC 6962 root of leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


for t in os.listdir(corpus) if os.path.isdir(corpus) else []:
    shutil.rmtree(os.path.join(corpus, t))

# --- audit_export: the synth exports as written, and one re-signed with the fuzz centre's
# key and cosigned by the fuzz witness (so every check of verify runs on it).
synth = sorted(glob.glob(os.path.join(work, "synth", "*.hfxlog")))
for p in synth:
    put("audit_export", os.path.basename(p), read(p))
lines = read(synth[0]).decode().split("\n")
assert lines[1] == f"centre {CENTRE}", lines[1]
lines[3] = f"vkey {vkey(ORIGIN, centre_pk)}"
n = int(lines[5].split()[1])
entries = lines[6 : 6 + n]
leaves = [hashlib.sha256(b"\x00" + e.encode()).digest() for e in entries]
k_at = 6 + n
k = int(lines[k_at].split()[1])
notes, cos = [], []
for j in range(k):
    old = base64.b64decode(lines[k_at + 1 + j]).decode()
    size = int(old.split("\n")[1])
    text = f"{ORIGIN}\n{size}\n{B64(merkle_root(leaves[:size]))}\n"
    notes.append(B64(sign_note(text, ORIGIN, centre_k, centre_pk).encode()))
    line = cosign(text)
    cos.append(f"{size} {WITNESS} {B64(witness_pk)} {B64(line.encode())}")
c_at = k_at + 1 + k
assert lines[c_at] == "cosignatures 0", lines[c_at]
out = lines[: k_at + 1] + notes + [f"cosignatures {len(cos)}"] + cos + lines[c_at + 1 :]
put("audit_export", "signed-cosigned.hfxlog", "\n".join(out))
last_text = text
last_note = sign_note(text, ORIGIN, centre_k, centre_pk)

# --- signed_note: the C2SP test vector, a fuzz checkpoint, a cosignature over it.
tv = os.path.join(repo, "node/tlog/testdata/signed-note")
put("signed_note", "example.note", read(os.path.join(tv, "example.note")))
put("signed_note", "example.vkey", read(os.path.join(tv, "example.vkey")).strip())
put("signed_note", "checkpoint.note", last_note)
put("signed_note", "checkpoint-ext.note",
    sign_note(last_text + "extension line\n", ORIGIN, centre_k, centre_pk))
put("signed_note", "cosignature", last_text + "\0" + cosign(last_text))
put("signed_note", "witness.vkey", f"{WITNESS}+{key_id(WITNESS, 4, witness_pk).hex()}+"
    + B64(bytes([4]) + witness_pk))

# --- zone_directory: hfx certs init's directory, re-signed by the fuzz root with a far expiry
# and the fuzz centre's checkpoint key; its payload alone; the original (root unknown).
zd = os.path.join(work, "zone")
orig = read(os.path.join(zd, "trust/directory.json")).decode()
put("zone_directory", "certs-init.json", orig)
d = json.loads(json.loads(orig)["payload"])
d["expires_at_unix"] = 4102444800
d["version"] = 2
for c in d["centres"]:
    if c["code"] == CENTRE:
        c["signing_key"] = B64(centre_pk)
payload = json.dumps(d, indent=2, ensure_ascii=False)
sig = root_k.sign(b"hfx-directory-v1\n" + payload.encode())
put("zone_directory", "signed.json",
    json.dumps({"payload": payload, "signature": B64(sig)}, indent=2, ensure_ascii=False))
put("zone_directory", "payload.json", payload)

# --- trust_certs: the root, a node, a person certificate (PEM and DER), a signing key.
def pem_der(p):
    body = "".join(l for l in read(p).decode().splitlines() if not l.startswith("-----"))
    return base64.b64decode(body)

put("trust_certs", "root.crt.pem", read(os.path.join(zd, "trust/root.crt.pem")))
node_crt = os.path.join(zd, f"centres/{CENTRE}/node.crt.pem")
put("trust_certs", "node.crt.pem", read(node_crt))
put("trust_certs", "node.crt.der", pem_der(node_crt))
put("trust_certs", "signing.key.pem", read(os.path.join(zd, f"centres/{CENTRE}/signing.key.pem")))
person = [p for p in glob.glob(os.path.join(zd, "**/*.pem"), recursive=True)
          if "P0001" in p and "key" not in os.path.basename(p)]
if person:
    put("trust_certs", "person.crt.pem", read(person[0]))
    put("trust_certs", "person.crt.der", pem_der(person[0]))
put("trust_certs", "node.uri", f"hfx://node/{CENTRE}")

# --- batch_records / batch_control: the batchfile stand-in's export after `hfx seed`.
ex = os.path.join(work, "cfg/core-batch/export")
for f in ["members.dat", "postings.dat", "loans.dat"]:
    put("batch_records", f, read(os.path.join(ex, f)))
put("batch_control", "control.txt", read(os.path.join(ex, "control.txt")))
posting = read(os.path.join(ex, "postings.dat")).split(b"\n")[0]
put("batch_control", "reserve.req",
    b"HFXREQ|1\nAJBH|case-0001\nCZ|RESERVE\nGRZH|3203000000000000\nEND\n")
put("batch_control", "reserve.res",
    b"HFXRES|1\nJG|0000\nXX|" + "成功".encode("gb18030") + b"\nAJBH|case-0001\nGRZH|3203000000000000\n"
    b"BJ|1234.56\nLX|1.05\nDCSEQ|3\nMX|" + posting + b"\nEND\n")
put("batch_control", "conflict.res",
    b"HFXRES|1\nJG|3002\nXX|hold\nYLAJBH|case-0002\nZT|X\nEND\n")

# --- vendor_json: the vendor stand-in's answers (adapters/standins vendor/routes.rs shapes).
member = {
    "acctNo": "3203000000000000", "custName": "李敏秀", "idType": "111",
    "idNo": "320312197301182783", "gender": "F", "birthDate": "1973-01-18",
    "mobile": "15824291922",
    "employer": {"unitAcctNo": "320300D000252", "unitName": "徐州长城能源有限责任公司",
                 "creditCode": "91320381402104101U", "unitRatePct": "10.00",
                 "personalRatePct": "10.00"},
    "depositBase": "5750.00", "personalMonthly": "575.00", "unitMonthly": "575.00",
    "balance": "133201.90", "priorYearBalance": "133201.90", "currentYearDeposits": "0.00",
    "acctStatus": "ACTV", "openDate": "2005-07-17", "closeDate": None,
    "closeReasonCode": None, "paidThrough": "2021-02",
}
txn = {"txnDate": "2020-12-15", "txnType": "REMIT", "amount": "1150.00",
       "interest": "0.00", "period": "2020-12"}
loan = {"contractNo": "320300JK0000000000", "loanAcctNo": "320300DK0000000000",
        "role": "PRIMARY", "contractAmount": "300000.00", "disburseDate": "2023-10-13",
        "principalBalance": "0.00", "overduePrincipal": "0.00", "overdueTerms": 0,
        "payoffDate": "2025-02-08", "loanStatus": "PAID_OFF"}
page = lambda items: {"items": items, "page": 1, "pageSize": 50, "total": len(items),
                      "totalPages": 1}
put("vendor_json", "members.json", json.dumps(page([member]), ensure_ascii=False))
put("vendor_json", "member.json", json.dumps(member, ensure_ascii=False))
put("vendor_json", "txns.json", json.dumps(page([txn, dict(txn, txnType="INTEREST")])))
put("vendor_json", "loans.json", json.dumps(page([loan, dict(loan, role="CO")])))
put("vendor_json", "reservation.json", json.dumps(
    {"caseId": "case-0001", "acctNo": "3203000000000000", "heldPrincipal": "1234.56",
     "heldInterest": "1.05"}))
put("vendor_json", "credit.json", json.dumps({"acctNo": "3203000000000000", "amount": "99.00"}))
put("vendor_json", "token.json", json.dumps(
    {"access_token": "t0k3n", "token_type": "Bearer", "expires_in": 300}))
put("vendor_json", "error.json", json.dumps(
    {"code": "E3005", "message": "hold state", "caseId": "case-0002", "state": "X"}))

# --- node_config: deploy's example with paths relative to the config, the seed config, the
# zone file.
ex_cfg = read(os.path.join(repo, "deploy/node.example.toml")).decode()
ex_cfg = ex_cfg.replace("/etc/hfx/", "").replace("/var/lib/hfx/", "")
put("node_config", "node.example.toml", ex_cfg)
put("node_config", "batchfile.toml", read(os.path.join(work, "cfg/node.toml")))
put("node_config", "vendorapi.toml", read(os.path.join(work, "cfg/node.toml")).decode().replace(
    'kind = "batchfile"\npath = "core-batch"',
    'kind = "vendorapi"\nurl = "http://127.0.0.1:1"\nclient_id = "hfx"\nclient_secret = "s"\n'
    'timeout_ms = 3000\n[policy]\ndefault = ["identity_confirmation"]\n'
    '[policy.peers]\n"320100000000000" = ["transfer_check", "loan_check"]'))
put("node_config", "zone.toml", read(os.path.join(repo, "deploy/zone.toml")))

# --- peer_requests / local_requests: protobuf encodings (hand-encoded, field by field).
def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def f_int(no, v):
    return varint(no << 3) + varint(v) if v else b""


def f_bytes(no, v):
    if isinstance(v, str):
        v = v.encode()
    return varint(no << 3 | 2) + varint(len(v)) + v


MID = "01900000-0000-7000-8000-000000000000"
CASE = "01900000-0000-7000-8000-0000000000ca"
def header(purpose=3, case=""):
    return f_bytes(1, f_bytes(1, MID) + (f_bytes(2, case) if case else b"") + f_int(3, purpose)
                   + f_bytes(4, f"{PEER}/clerk/P0001") + f_int(5, 12) + f_int(6, 1796191876444))


person = f_bytes(2, f_int(1, 1) + f_bytes(2, "320312197301182783") + f_bytes(3, "李敏秀"))
person3 = f_bytes(3, f_int(1, 1) + f_bytes(2, "320312197301182783") + f_bytes(3, "李敏秀"))
put("peer_requests", "member-query", header() + person)
put("peer_requests", "contact-letter", header(3, CASE) + f_bytes(2, "3201002612020001") + person3
    + f_bytes(4, "3203000000000000") + f_bytes(5, PEER) + f_bytes(6, CENTRE)
    + f_int(7, 20261202) + f_int(8, 1796191876444))
posting_pb = f_int(1, 20201215) + f_bytes(2, "01") + f_int(3, 115000) + f_int(5, 202012)
put("peer_requests", "transfer-out", header(3, CASE) + f_int(2, 133201) + f_int(3, 133000)
    + f_int(4, 201) + f_int(5, 200507) + f_int(6, 202102) + f_int(7, 1)
    + f_bytes(11, posting_pb))
put("peer_requests", "refusal", header(3, CASE) + f_bytes(2, "ACCOUNT_FROZEN") + f_bytes(3, "冻结"))
put("peer_requests", "payment", header(3, CASE) + f_int(2, 1) + f_bytes(3, "BANK-REF-1")
    + f_int(4, 133201))
put("peer_requests", "completion", header(3, CASE) + f_int(2, 1) + f_int(4, 133201))
put("peer_requests", "consistency", header() + f_int(2, 5) + f_int(3, 17))
put("peer_requests", "cosign", header() + f_bytes(2, last_note) + f_int(3, 0))
put("peer_requests", "gossip", header() + f_bytes(2, CENTRE) + f_bytes(3, last_note))
put("local_requests", "member-query", f_bytes(1, PEER) + person + f_int(3, 3) + f_bytes(4, MID))
put("local_requests", "inclusion", f_int(1, 5) + f_int(2, 17))
put("local_requests", "limit", f_int(1, 50))
put("local_requests", "path", "/hfx.v1.Clerk/QueryMember")
put("local_requests", "start-transfer", f_bytes(1, PEER) + person + f_bytes(3, "3203000000000000"))
