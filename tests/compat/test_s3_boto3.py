"""S3 over boto3 against `cairn up`: buckets, objects, listings, copies,
batch deletes, multipart uploads, presigned URLs and the refusals of
unimplemented features."""

import datetime
import hashlib
import os
import time

import pytest
import requests
from botocore.exceptions import ClientError

from s3_helpers import bucket_names, client, error_code, eventually

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def s3(cairn):
    return client(cairn)


@pytest.fixture(scope="module")
def presigner(cairn):
    """A client that presigns with SigV4 (boto3 presigns with v2 unless told)."""
    return client(cairn, signature_version="s3v4")


@pytest.fixture
def bucket(s3, unique):
    name = unique("bkt")
    s3.create_bucket(Bucket=name)
    return name


def code_of(excinfo):
    err = excinfo.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_bucket_lifecycle(s3, unique):
    name = unique("life")
    r = s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    eventually(lambda: name in bucket_names(s3), "the new bucket is listed")
    s3.head_bucket(Bucket=name)
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert code_of(e) == ("BucketAlreadyOwnedByYou", 409)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert code_of(e) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert code_of(e)[1] == 404
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=name)
    assert code_of(e) == ("NoSuchBucket", 404)
    eventually(lambda: name not in bucket_names(s3), "the deleted bucket is not listed")


def test_invalid_bucket_name(s3):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")
    assert code_of(e) == ("InvalidBucketName", 400)


def test_put_get_head_with_metadata(s3, bucket):
    body = os.urandom(100_000)
    r = s3.put_object(Bucket=bucket, Key="dir/obj.bin", Body=body, ContentType="application/x-test",
                      Metadata={"color": "blue", "Owner": "me"}, ContentDisposition="attachment")
    assert r["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"color": "blue", "owner": "me"}
    assert got["ContentDisposition"] == "attachment"
    assert got["ETag"] == r["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert head["ContentLength"] == len(body)
    assert head["Metadata"]["color"] == "blue"
    # Overwrite replaces content and metadata.
    s3.put_object(Bucket=bucket, Key="dir/obj.bin", Body=b"small")
    got = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert got["Body"].read() == b"small" and got["Metadata"] == {}


def test_missing_keys_and_buckets(s3, bucket, unique):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert code_of(e) == ("NoSuchKey", 404)
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="nope")
    assert code_of(e)[1] == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=unique("nobucket"), Key="k")
    assert code_of(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=unique("nobucket"), Key="k", Body=b"x")
    assert code_of(e) == ("NoSuchBucket", 404)


def test_ranges_conditions_and_overrides(s3, bucket):
    body = bytes(range(256)) * 4
    etag = s3.put_object(Bucket=bucket, Key="r", Body=body)["ETag"]
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=5000-6000")
    assert code_of(e) == ("InvalidRange", 416)
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == body
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"0000"')
    assert code_of(e) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert code_of(e)[1] == 304
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfModifiedSince=future)
    assert code_of(e)[1] == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfUnmodifiedSince=past)
    assert code_of(e) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="r", IfModifiedSince=past)["ContentLength"] == len(body)
    o = s3.get_object(Bucket=bucket, Key="r", ResponseContentType="text/x-over",
                      ResponseContentDisposition="inline; filename=x", ResponseCacheControl="no-cache")
    assert o["ContentType"] == "text/x-over"
    assert o["ContentDisposition"] == "inline; filename=x"
    assert o["CacheControl"] == "no-cache"


def test_list_objects_v2(s3, bucket):
    keys = [f"photos/2024/{i:02}.jpg" for i in range(12)] + ["photos/index.html", "readme", "a b+c.txt"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    everything = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in everything["Contents"]] == sorted(keys)
    assert everything["KeyCount"] == len(keys) and not everything["IsTruncated"]
    assert everything["Contents"][0]["Size"] == len(everything["Contents"][0]["Key"])
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["photos/"]
    assert [o["Key"] for o in top["Contents"]] == ["a b+c.txt", "readme"]
    sub = s3.list_objects_v2(Bucket=bucket, Prefix="photos/", Delimiter="/")
    assert [p["Prefix"] for p in sub["CommonPrefixes"]] == ["photos/2024/"]
    assert [o["Key"] for o in sub["Contents"]] == ["photos/index.html"]
    # Pages of 5 with continuation tokens cover every key once.
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=5, **kw)
        pages += 1
        seen += [o["Key"] for o in page["Contents"]]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(keys) and pages == 3
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="photos/index.html")
    assert [o["Key"] for o in after["Contents"]] == ["readme"]
    # Paginated with a delimiter, a common prefix is not repeated.
    prefixes, contents, token = [], [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=1, **kw)
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        contents += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert prefixes == ["photos/"] and contents == ["a b+c.txt", "readme"]
    # boto3 decodes url-encoded names only when it asked for the encoding
    # itself; asked explicitly, the encoded form shows.
    raw = s3.list_objects_v2(Bucket=bucket, Prefix="a b", EncodingType="url")
    assert [o["Key"] for o in raw["Contents"]] == ["a%20b%2Bc.txt"]
    assert raw["Prefix"] == "a%20b"
    paginator = s3.get_paginator("list_objects_v2")
    assert sum(len(p.get("Contents", [])) for p in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 4})) == len(keys)


def test_list_objects_v1(s3, bucket):
    keys = [f"k{i:02}" for i in range(7)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"v")
    page = s3.list_objects(Bucket=bucket, MaxKeys=3)
    assert [o["Key"] for o in page["Contents"]] == keys[:3] and page["IsTruncated"]
    page2 = s3.list_objects(Bucket=bucket, MaxKeys=3, Marker="k02")
    assert [o["Key"] for o in page2["Contents"]] == keys[3:6]
    paginator = s3.get_paginator("list_objects")
    got = [o["Key"] for p in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}) for o in p["Contents"]]
    assert got == keys
    rolled = s3.list_objects(Bucket=bucket, Prefix="k", Delimiter="0")
    assert rolled["CommonPrefixes"] == [{"Prefix": "k0"}] and "Contents" not in rolled


def test_delete_object_and_objects(s3, bucket):
    for k in ["a", "b", "c", "d"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    s3.delete_object(Bucket=bucket, Key="a")
    s3.delete_object(Bucket=bucket, Key="never-there")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b"}, {"Key": "missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["b", "missing"]
    assert not r.get("Errors")
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert not quiet.get("Deleted") and not quiet.get("Errors")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["d"]


def test_copy_object(s3, bucket, unique):
    other = unique("dst")
    s3.create_bucket(Bucket=other)
    body = os.urandom(70_000)
    etag = s3.put_object(Bucket=bucket, Key="src", Body=body, Metadata={"a": "1"}, ContentType="text/x-src")["ETag"]
    r = s3.copy_object(Bucket=other, Key="copy", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == etag
    got = s3.get_object(Bucket=other, Key="copy")
    assert got["Body"].read() == body and got["Metadata"] == {"a": "1"} and got["ContentType"] == "text/x-src"
    s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="text/x-new")
    got = s3.head_object(Bucket=bucket, Key="src")
    assert got["Metadata"] == {"b": "2"} and got["ContentType"] == "text/x-new"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert code_of(e) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c2", CopySource=f"{bucket}/src", CopySourceIfMatch='"00"')
    assert code_of(e) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c3", CopySource=f"{bucket}/src", CopySourceIfNoneMatch=etag)
    assert code_of(e) == ("PreconditionFailed", 412)
    s3.copy_object(Bucket=bucket, Key="c4", CopySource=f"{bucket}/src",
                   CopySourceIfModifiedSince=datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["c4", "src"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c5", CopySource=f"{bucket}/nope")
    assert code_of(e) == ("NoSuchKey", 404)


def upload_parts(s3, bucket, key, parts):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/x-mp", Metadata={"m": "1"})
    done = []
    for i, data in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=i, Body=data)
        assert r["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    return up["UploadId"], done


def multipart_etag(parts):
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def test_multipart_three_parts(s3, bucket, project_conn):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(5 * MiB)]
    upload_id, done = upload_parts(s3, bucket, "big/file", parts)
    listed = s3.list_parts(Bucket=bucket, Key="big/file", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * MiB), (2, 5 * MiB), (3, 5 * MiB)]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big/file", upload_id)]
    r = s3.complete_multipart_upload(Bucket=bucket, Key="big/file", UploadId=upload_id,
                                     MultipartUpload={"Parts": done})
    want_etag = multipart_etag(parts)
    assert r["ETag"] == want_etag
    whole = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="big/file")
    assert got["ETag"] == want_etag and got["ContentLength"] == len(whole)
    assert got["ContentType"] == "application/x-mp" and got["Metadata"] == {"m": "1"}
    assert hashlib.md5(got["Body"].read()).hexdigest() == hashlib.md5(whole).hexdigest()
    # A range across the first part boundary.
    a, b = 5 * MiB - 100, 5 * MiB + 99
    assert s3.get_object(Bucket=bucket, Key="big/file", Range=f"bytes={a}-{b}")["Body"].read() == whole[a:b + 1]
    assert s3.head_object(Bucket=bucket, Key="big/file")["ContentLength"] == len(whole)
    listing = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listing] == [("big/file", len(whole), want_etag)]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    eventually(lambda: bucket in bucket_names(s3), "the bucket is listed")
    assert bucket + "+segments" not in bucket_names(s3)
    assert bucket + "+segments" in [c["name"] for c in project_conn.get_account()[1]]
    # The same object over Swift: the whole body, a range, and HEAD.
    headers, body = project_conn.get_object(bucket, "big/file")
    assert body == whole
    assert headers["etag"] == want_etag.strip('"')
    assert int(headers["content-length"]) == len(whole)
    headers, body = project_conn.get_object(bucket, "big/file", headers={"Range": f"bytes={a}-{b}"})
    assert body == whole[a:b + 1]
    assert int(project_conn.head_object(bucket, "big/file")["content-length"]) == len(whole)
    assert not any(h.startswith("x-object-sysmeta") for h in headers)
    # A Swift POST changes metadata only: the listing keeps the logical size and ETag.
    project_conn.post_object(bucket, "big/file", headers={"X-Object-Meta-Tag": "x"})
    listing = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listing] == [("big/file", len(whole), want_etag)]
    assert hashlib.md5(s3.get_object(Bucket=bucket, Key="big/file")["Body"].read()).digest() == \
        hashlib.md5(whole).digest()
    # Deleting over S3 removes the parts too.
    s3.delete_object(Bucket=bucket, Key="big/file")
    _, segs = project_conn.get_container(bucket + "+segments")
    assert segs == []


def test_multipart_part_copy_and_small_last_part(s3, bucket):
    src = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")
    p1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    p2 = s3.upload_part(Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=2, Body=b"tail")
    parts = [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]
    r = s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts})
    assert r["ETag"] == multipart_etag([src[:5 * MiB], b"tail"])
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == src[:5 * MiB] + b"tail"


def test_multipart_refusals_store_nothing(s3, bucket):
    small = [os.urandom(1024), os.urandom(1024)]
    upload_id, done = upload_parts(s3, bucket, "mp", small)
    wrong = [dict(done[0]), dict(done[1])]
    wrong[1]["ETag"] = '"' + "0" * 32 + '"'
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": wrong})
    assert code_of(e) == ("InvalidPart", 400)
    missing = [done[0], {"PartNumber": 7, "ETag": done[1]["ETag"]}]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": missing})
    assert code_of(e) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done[::-1]})
    assert code_of(e) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": done})
    assert code_of(e) == ("EntityTooSmall", 400)
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []
    # Abort removes the upload and its parts.
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert code_of(e) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert code_of(e) == ("NoSuchUpload", 404)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []


def test_presigned_get_and_put(s3, presigner, bucket):
    put_url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    assert requests.put(put_url, data=b"presigned body", timeout=30).status_code == 200
    get_url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in get_url
    r = requests.get(get_url, timeout=30)
    assert r.status_code == 200 and r.content == b"presigned body"
    assert r.headers["x-amz-request-id"]
    # A changed URL no longer matches its signature.
    r = requests.get(get_url.replace("/pre?", "/pre2?"), timeout=30)
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")


def test_expired_presigned_urls_are_refused(s3, presigner, bucket):
    get_url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1)
    put_url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "late"}, ExpiresIn=1)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    time.sleep(2.1)
    r = requests.get(get_url, timeout=30)
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")
    r = requests.put(put_url, data=b"too late", timeout=30)
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]


def test_unimplemented_features_say_so(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert code_of(e) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code_of(e) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy="{}")
    assert code_of(e) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="pub", Body=b"x", ACL="public-read")
    assert code_of(e) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert code_of(e) == ("NotImplemented", 501)
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    s3.put_object(Bucket=bucket, Key="priv", Body=b"x", ACL="private")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k", "priv"]


def test_replacing_a_multipart_object_removes_its_parts(s3, bucket, project_conn):
    def segments():
        return sorted(o["name"] for o in project_conn.get_container(bucket + "+segments")[1])

    first = [os.urandom(5 * MiB), b"one"]
    upload_id, done = upload_parts(s3, bucket, "obj", first)
    s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=upload_id, MultipartUpload={"Parts": done})
    assert segments() == [f"obj/{upload_id}/00001", f"obj/{upload_id}/00002"]
    second = [os.urandom(5 * MiB), b"two"]
    upload2, done2 = upload_parts(s3, bucket, "obj", second)
    s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=upload2, MultipartUpload={"Parts": done2})
    assert segments() == [f"obj/{upload2}/00001", f"obj/{upload2}/00002"]
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"".join(second)
    # A copy of a multipart object is a plain object: replacing the copy
    # leaves the original's parts alone.
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/obj")
    s3.put_object(Bucket=bucket, Key="copy", Body=b"over the copy")
    assert segments() == [f"obj/{upload2}/00001", f"obj/{upload2}/00002"]
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"".join(second)
    s3.put_object(Bucket=bucket, Key="obj", Body=b"plain now")
    assert segments() == []
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"plain now"
    # Copying onto a multipart object replaces its parts too.
    upload3, done3 = upload_parts(s3, bucket, "obj", [os.urandom(5 * MiB), b"three"])
    s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=upload3, MultipartUpload={"Parts": done3})
    assert len(segments()) == 2
    s3.copy_object(Bucket=bucket, Key="obj", CopySource=f"{bucket}/copy")
    assert segments() == []
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"over the copy"
