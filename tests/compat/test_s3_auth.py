"""S3 authentication against `cairn up`: every refused request is answered
with S3's error code and stores nothing (checked by reading back), and the
signed aws-chunked upload and virtual-hosted-style addressing work."""

import datetime
import hashlib
import os

import pytest
import requests
from botocore.exceptions import ClientError

from s3_helpers import bucket_names, client, error_code, eventually, s3_env, send, streaming_put


@pytest.fixture(scope="module")
def s3(cairn):
    return client(cairn)


@pytest.fixture
def bucket(s3, unique):
    name = unique("auth")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def keys(cairn):
    rc = s3_env(cairn)
    return rc["AWS_ENDPOINT_URL"], rc["AWS_ACCESS_KEY_ID"], rc["AWS_SECRET_ACCESS_KEY"]


def keys_in(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_signed_requests_from_the_helper_work(s3, bucket, keys):
    """The hand-made signer agrees with the server (so the refusals below
    are refusals of what they change, not of the signer)."""
    endpoint, ak, sk = keys
    r = send("PUT", f"{endpoint}/{bucket}/plain", ak, sk, body=b"by hand")
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"by hand"


def test_wrong_secret_is_refused(cairn, s3, bucket, keys):
    _, ak, _ = keys
    bad = client(cairn, access_key=ak, secret_key="not-the-secret")
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert (e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as e:
        bad.list_objects_v2(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert keys_in(s3, bucket) == []


def test_unknown_access_key_is_refused(cairn, s3, bucket):
    stranger = client(cairn, access_key="AKIANOTCONFIGURED000", secret_key="x")
    with pytest.raises(ClientError) as e:
        stranger.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert (e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "InvalidAccessKeyId", 403)
    assert keys_in(s3, bucket) == []


def test_tampered_signature_and_anonymous(s3, bucket, keys):
    endpoint, ak, sk = keys
    url = f"{endpoint}/{bucket}/k"
    from s3_helpers import signed_request
    h, sig, *_ = signed_request("PUT", url, ak, sk, body=b"data")
    h["authorization"] = h["authorization"].replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    r = requests.put(url, headers=h, data=b"data", timeout=30)
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    assert r.headers["x-amz-request-id"]
    # A signed header changed after signing.
    h, *_ = signed_request("PUT", url, ak, sk, body=b"data", headers={"x-amz-meta-a": "1"})
    h["x-amz-meta-a"] = "2"
    r = requests.put(url, headers=h, data=b"data", timeout=30)
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    r = requests.put(url, data=b"data", timeout=30)
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")
    assert keys_in(s3, bucket) == []


def test_clock_skew_is_refused(s3, bucket, keys):
    endpoint, ak, sk = keys
    url = f"{endpoint}/{bucket}/skewed"
    for minutes in (-20, 20):
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
        r = send("PUT", url, ak, sk, body=b"late", when=when)
        assert (r.status_code, error_code(r)) == (403, "RequestTimeTooSkewed"), r.text
    # Within the limit is fine.
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    assert send("PUT", url, ak, sk, body=b"ok", when=when).status_code == 200
    assert keys_in(s3, bucket) == ["skewed"]
    assert s3.get_object(Bucket=bucket, Key="skewed")["Body"].read() == b"ok"


def test_payload_hash_mismatch_stores_nothing(s3, bucket, keys):
    endpoint, ak, sk = keys
    url = f"{endpoint}/{bucket}/k"
    for size in (10, 200_000):
        body = os.urandom(size)
        from s3_helpers import signed_request
        h, *_ = signed_request("PUT", url, ak, sk, payload_hash=hashlib.sha256(b"other").hexdigest())
        r = requests.put(url, headers=h, data=body, timeout=30)
        assert (r.status_code, error_code(r)) == (400, "XAmzContentSHA256Mismatch"), r.text
    assert keys_in(s3, bucket) == []


def test_streaming_signed_upload(s3, bucket, keys):
    endpoint, ak, sk = keys
    chunks = [os.urandom(64 * 1024), os.urandom(64 * 1024), os.urandom(1000)]
    r = streaming_put(f"{endpoint}/{bucket}/streamed", ak, sk, chunks)
    assert r.status_code == 200, r.text
    body = b"".join(chunks)
    assert r.headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="streamed")
    assert got["Body"].read() == body
    assert "ContentEncoding" not in got


def test_tampered_streaming_chunk_stores_nothing(s3, bucket, keys):
    endpoint, ak, sk = keys
    chunks = [os.urandom(64 * 1024), os.urandom(64 * 1024), os.urandom(1000)]

    def flip_second_chunk(body):
        i = 70 * 1024  # inside the second chunk's data
        return body[:i] + bytes([body[i] ^ 1]) + body[i + 1:]

    r = streaming_put(f"{endpoint}/{bucket}/tampered", ak, sk, chunks, tamper=flip_second_chunk)
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch"), r.text
    small = [b"hello ", b"world"]
    r = streaming_put(f"{endpoint}/{bucket}/tampered", ak, sk, small,
                      tamper=lambda b: b.replace(b"world", b"W0rld"))
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch"), r.text
    assert keys_in(s3, bucket) == []
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="tampered")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_virtual_hosted_style(s3, bucket, keys):
    endpoint, ak, sk = keys
    port = endpoint.rsplit(":", 1)[1]
    host = f"{bucket}.localhost:{port}"
    r = send("PUT", f"{endpoint}/vhost/key", ak, sk, body=b"virtual", host=host)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="vhost/key")["Body"].read() == b"virtual"
    from s3_helpers import signed_request
    h, *_ = signed_request("GET", f"{endpoint}/?list-type=2", ak, sk, host=host)
    r = requests.get(f"{endpoint}/?list-type=2", headers=h, timeout=30)
    assert r.status_code == 200 and "<Key>vhost/key</Key>" in r.text


def test_s3_and_swift_see_the_same_objects(s3, bucket, project_conn):
    s3.put_object(Bucket=bucket, Key="from-s3", Body=b"written over S3", Metadata={"who": "s3"},
                  ContentType="text/plain")
    headers, body = project_conn.get_object(bucket, "from-s3")
    assert body == b"written over S3"
    assert headers["x-object-meta-who"] == "s3" and headers["content-type"] == "text/plain"
    project_conn.put_object(bucket, "from-swift", b"written over Swift", content_type="text/x-swift",
                          headers={"X-Object-Meta-Who": "swift"})
    got = s3.get_object(Bucket=bucket, Key="from-swift")
    assert got["Body"].read() == b"written over Swift"
    assert got["Metadata"] == {"who": "swift"} and got["ContentType"] == "text/x-swift"
    # Containers made over Swift are buckets, and the reverse.
    project_conn.put_container(bucket + "-sw")
    s3.put_object(Bucket=bucket + "-sw", Key="k", Body=b"v")
    assert [o["name"] for o in project_conn.get_container(bucket + "-sw")[1]] == ["k"]
    assert sorted(o["name"] for o in project_conn.get_container(bucket)[1]) == ["from-s3", "from-swift"]


def test_s3_key_pair_is_kept_and_added_to_older_data_dirs(cairn_factory):
    import stat
    server = cairn_factory()
    rc1 = server.start()
    creds = server.data_dir / "credentials.toml"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.openrc_path.stat().st_mode) == 0o600
    assert rc1["AWS_ACCESS_KEY_ID"] in creds.read_text()
    assert rc1["AWS_ENDPOINT_URL"] == server.base_url
    client(server).create_bucket(Bucket="kept")
    assert server.stop() == 0
    rc2 = server.start()
    assert (rc2["AWS_ACCESS_KEY_ID"], rc2["AWS_SECRET_ACCESS_KEY"]) == (
        rc1["AWS_ACCESS_KEY_ID"], rc1["AWS_SECRET_ACCESS_KEY"])
    eventually(lambda: "kept" in bucket_names(client(server)), "the bucket is listed")
    assert server.stop() == 0
    # A data directory from before S3 has only the Swift key: it gains a pair.
    old = "\n".join(l for l in creds.read_text().splitlines() if not l.startswith("s3_")) + "\n"
    creds.write_text(old)
    rc3 = server.start()
    assert rc3["ST_KEY"] == rc1["ST_KEY"]
    assert rc3["AWS_ACCESS_KEY_ID"] and rc3["AWS_ACCESS_KEY_ID"] != rc1["AWS_ACCESS_KEY_ID"]
    assert rc3["AWS_ACCESS_KEY_ID"] in creds.read_text()
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    eventually(lambda: "kept" in bucket_names(client(server)), "the bucket is listed")
    stale = client(server, access_key=rc1["AWS_ACCESS_KEY_ID"], secret_key=rc1["AWS_SECRET_ACCESS_KEY"])
    with pytest.raises(ClientError) as e:
        stale.list_buckets()
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
