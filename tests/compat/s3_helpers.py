"""Helpers of the S3 compatibility tests: clients built from the openrc of
the session's `cairn up`, and a small SigV4 signer for the requests real
clients never send (skewed clocks, tampered signatures, signed aws-chunked
bodies)."""

import datetime
import hashlib
import hmac
from urllib.parse import quote, urlsplit

import boto3
import requests
from botocore.config import Config

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
REGION = "us-east-1"


def s3_env(cairn):
    """The AWS_* variables of the session's openrc (all must be there)."""
    rc = cairn.openrc
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        assert rc.get(k), f"openrc lacks {k}: {sorted(rc)}"
    return rc


def client(cairn, access_key=None, secret_key=None, **config):
    rc = s3_env(cairn)
    return boto3.client(
        "s3",
        endpoint_url=rc["AWS_ENDPOINT_URL"],
        aws_access_key_id=access_key or rc["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret_key or rc["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret, date):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, REGION)
    k = _hmac(k, "s3")
    return _hmac(k, "aws4_request")


def signed_request(method, url, access, secret, body=b"", headers=None,
                   payload_hash=None, when=None, host=None):
    """Signs a request with SigV4 the way S3 clients do and returns
    (headers, seed signature, signing key, scope, amz date)."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urlsplit(url)
    h = {k.lower(): v for k, v in (headers or {}).items()}
    h["host"] = host or parts.netloc
    h["x-amz-date"] = amz_date
    h["x-amz-content-sha256"] = payload_hash or hashlib.sha256(body).hexdigest()
    signed = sorted(h)
    query = "&".join(
        sorted(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
            for k, _, v in (p.partition("=") for p in parts.query.split("&") if p)
        )
    )
    canonical = "\n".join([
        method,
        quote(parts.path or "/", safe="/-_.~"),
        query,
        "".join(f"{k}:{' '.join(str(h[k]).split())}\n" for k in signed),
        ";".join(signed),
        h["x-amz-content-sha256"],
    ])
    scope = f"{date}/{REGION}/s3/aws4_request"
    to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope,
        hashlib.sha256(canonical.encode()).hexdigest(),
    ])
    key = signing_key(secret, date)
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={sig}"
    )
    return h, sig, key, scope, amz_date


def send(method, url, access, secret, body=b"", headers=None, **kw):
    h, *_ = signed_request(method, url, access, secret, body, headers, **kw)
    return requests.request(method, url, headers=h, data=body, timeout=30)


def aws_chunked(chunks, seed, key, scope, amz_date):
    """An aws-chunked body whose chunks carry chained signatures."""
    out = b""
    prev = seed
    for data in list(chunks) + [b""]:
        to_sign = "\n".join([
            "AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY_SHA256,
            hashlib.sha256(data).hexdigest(),
        ])
        prev = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out += f"{len(data):x};chunk-signature={prev}\r\n".encode() + data + b"\r\n"
    return out


def streaming_put(url, access, secret, chunks, tamper=None):
    """PUTs `chunks` as STREAMING-AWS4-HMAC-SHA256-PAYLOAD; `tamper(body)`
    may change the encoded body after signing."""
    decoded = sum(len(c) for c in chunks)
    # The encoded length is known before signing: the signatures are 64 hex digits.
    encoded_len = sum(len(f"{len(c):x};chunk-signature=".encode()) + 64 + 4 + len(c)
                      for c in list(chunks) + [b""])
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(decoded),
        "content-length": str(encoded_len),
    }
    h, seed, key, scope, amz_date = signed_request(
        "PUT", url, access, secret, headers=headers,
        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = aws_chunked(chunks, seed, key, scope, amz_date)
    assert len(body) == encoded_len
    if tamper:
        body = tamper(body)
    return requests.put(url, headers=h, data=body, timeout=60)


def eventually(check, what, timeout=10.0):
    """Polls `check` until it holds (account listings are updated
    asynchronously, as Swift's are); fails after `timeout` seconds."""
    import time
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so within {timeout:.0f} s")
        time.sleep(0.05)


def bucket_names(s3):
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def error_code(resp):
    """The <Code> of an S3 error body."""
    import re
    m = re.search(r"<Code>([^<]+)</Code>", resp.text)
    return m.group(1) if m else None
