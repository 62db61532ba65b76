"""The `swift` command-line client (python-swiftclient) against Cairn, with
nothing but the openrc environment (ST_AUTH, ST_USER, ST_KEY) for auth."""

import hashlib
import json
import os
import time

import requests

SMALL = b"hello from the swift CLI\n"
NESTED = b"nested file\n" * 3


def md5(data):
    return hashlib.md5(data).hexdigest()


def stat_fields(output):
    """`swift stat` prints `Key: value` lines."""
    out = {}
    for line in output.decode().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def lines(proc):
    return proc.stdout.decode().splitlines()


def make_tree(root):
    """A directory of test files: small, > 64 KiB, > 5 MiB, nested."""
    tree = root / "tree"
    (tree / "sub").mkdir(parents=True)
    files = {
        "tree/small.txt": SMALL,
        "tree/big64k.bin": os.urandom(100 * 1024 + 17),
        "tree/big6m.bin": os.urandom(6 * 1024 * 1024 + 3),
        "tree/sub/nested.txt": NESTED,
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


def test_upload_and_download_directory(swift_cli, admin_conn, unique, tmp_path):
    work = tmp_path / "up"
    work.mkdir()
    files = make_tree(work)
    cont = unique("cli-up")

    up = swift_cli("upload", cont, "tree", cwd=work)
    assert sorted(lines(up)) == sorted(files)

    # Every object is there with the right size and MD5 ETag.
    headers, listing = admin_conn.get_container(cont)
    assert [o["name"] for o in listing] == sorted(files)
    for o in listing:
        assert o["bytes"] == len(files[o["name"]])
        assert o["hash"] == md5(files[o["name"]])
    assert headers["x-container-object-count"] == str(len(files))
    assert headers["x-container-bytes-used"] == str(sum(map(len, files.values())))

    # Download the whole container into another directory.
    down = tmp_path / "down"
    down.mkdir()
    swift_cli("download", cont, "-D", str(down), cwd=down)
    for name, data in files.items():
        got = (down / name).read_bytes()
        assert len(got) == len(data), name
        assert md5(got) == md5(data), name
        assert got == data, name

    # One object to a named file, and one to stdout.
    swift_cli("download", cont, "tree/big6m.bin", "-o", str(tmp_path / "one.bin"))
    assert md5((tmp_path / "one.bin").read_bytes()) == md5(files["tree/big6m.bin"])
    out = swift_cli("download", cont, "tree/small.txt", "-o", "-")
    assert out.stdout == SMALL


def test_upload_single_files_and_object_name(swift_cli, admin_conn, unique, tmp_path):
    files = make_tree(tmp_path)
    cont = unique("cli-files")

    swift_cli("upload", cont, "tree/big64k.bin", "tree/small.txt", cwd=tmp_path)
    swift_cli(
        "upload", cont, "tree/big6m.bin", "--object-name", "renamed/large.bin", cwd=tmp_path
    )
    swift_cli("upload", cont, "tree/sub", "--object-name", "moved", cwd=tmp_path)

    _, listing = admin_conn.get_container(cont)
    assert [o["name"] for o in listing] == [
        "moved/nested.txt",
        "renamed/large.bin",
        "tree/big64k.bin",
        "tree/small.txt",
    ]
    _, body = admin_conn.get_object(cont, "renamed/large.bin")
    assert body == files["tree/big6m.bin"]
    _, body = admin_conn.get_object(cont, "moved/nested.txt")
    assert body == NESTED
    _, body = admin_conn.get_object(cont, "tree/big64k.bin")
    assert body == files["tree/big64k.bin"]


def test_list_account_and_container(swift_cli, admin_conn, unique, tmp_path):
    files = make_tree(tmp_path)
    stem = unique("cli-list")
    conts = [stem + "-a", stem + "-b"]
    for c in conts:
        swift_cli("upload", c, "tree/small.txt", "tree/sub/nested.txt", cwd=tmp_path)
    swift_cli("upload", conts[0], "tree/big64k.bin", cwd=tmp_path)

    account = lines(swift_cli("list"))
    assert conts[0] in account and conts[1] in account
    assert account == sorted(account)
    assert lines(swift_cli("list", "--prefix", stem)) == conts

    c = conts[0]
    assert lines(swift_cli("list", c)) == [
        "tree/big64k.bin",
        "tree/small.txt",
        "tree/sub/nested.txt",
    ]
    assert lines(swift_cli("list", c, "--prefix", "tree/s")) == [
        "tree/small.txt",
        "tree/sub/nested.txt",
    ]
    assert lines(swift_cli("list", c, "--delimiter", "/")) == ["tree/"]
    assert lines(swift_cli("list", c, "--prefix", "tree/", "--delimiter", "/")) == [
        "tree/big64k.bin",
        "tree/small.txt",
        "tree/sub/",
    ]
    # --lh shows sizes; the totals line counts every byte.
    lh = lines(swift_cli("list", c, "--lh"))
    assert any(l.strip().endswith("tree/small.txt") for l in lh)
    long = lines(swift_cli("list", c, "--long"))
    total = long[-1].split()
    assert int(total[0]) == len(SMALL) + len(NESTED) + len(files["tree/big64k.bin"])


def test_stat_account_container_object(swift_cli, admin_conn, unique, tmp_path):
    files = make_tree(tmp_path)
    before = stat_fields(swift_cli("stat").stdout)
    assert before["Account"] == "AUTH_admin"

    cont = unique("cli-stat")
    names = ["tree/small.txt", "tree/big64k.bin", "tree/sub/nested.txt"]
    swift_cli("upload", cont, *names, cwd=tmp_path)
    size = sum(len(files[n]) for n in names)

    cs = stat_fields(swift_cli("stat", cont).stdout)
    assert cs["Account"] == "AUTH_admin"
    assert cs["Container"] == cont
    assert cs["Objects"] == "3"
    assert cs["Bytes"] == str(size)

    os_ = stat_fields(swift_cli("stat", cont, "tree/big64k.bin").stdout)
    assert os_["Object"] == "tree/big64k.bin"
    assert os_["Content Length"] == str(len(files["tree/big64k.bin"]))
    assert os_["ETag"] == md5(files["tree/big64k.bin"])
    assert os_["Content Type"] == "application/octet-stream"
    assert stat_fields(swift_cli("stat", cont, "tree/small.txt").stdout)[
        "Content Type"
    ] == "text/plain"

    # The account's totals moved by exactly what was added (no other test
    # runs concurrently); poll a little in case account stats lag.
    deadline = time.monotonic() + 5
    while True:
        after = stat_fields(swift_cli("stat").stdout)
        deltas = (
            int(after["Containers"]) - int(before["Containers"]),
            int(after["Objects"]) - int(before["Objects"]),
            int(after["Bytes"]) - int(before["Bytes"]),
        )
        if deltas == (1, 3, size) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert deltas == (1, 3, size)
    # And the totals agree with the account listing.
    _, conts = admin_conn.get_account(full_listing=True)
    assert int(after["Containers"]) == len(conts)
    assert int(after["Objects"]) == sum(c["count"] for c in conts)
    assert int(after["Bytes"]) == sum(c["bytes"] for c in conts)

    missing = swift_cli("stat", cont, "no-such-object", check=False)
    assert missing.returncode != 0
    assert b"404" in missing.stderr or b"Not Found" in missing.stderr


def test_post_metadata_and_read_acl(swift_cli, admin_conn, cairn, unique, tmp_path):
    make_tree(tmp_path)
    cont = unique("cli-post")
    swift_cli("upload", cont, "tree/small.txt", cwd=tmp_path)
    url, _ = admin_conn.get_auth()
    anon_obj = f"{url}/{cont}/tree/small.txt"

    # Without an ACL an anonymous reader is refused.
    assert requests.get(anon_obj).status_code == 401

    swift_cli("post", cont, "-m", "Color:Blue", "-m", "Size:Large", "-r", ".r:*,.rlistings")
    h = admin_conn.head_container(cont)
    assert h["x-container-meta-color"] == "Blue"
    assert h["x-container-meta-size"] == "Large"
    assert h["x-container-read"] == ".r:*,.rlistings"
    st = stat_fields(swift_cli("stat", cont).stdout)
    assert st["Read ACL"] == ".r:*,.rlistings"
    assert st["Meta Color"] == "Blue"

    r = requests.get(anon_obj)
    assert r.status_code == 200
    assert r.content == SMALL
    r = requests.get(f"{url}/{cont}")
    assert r.status_code == 200
    assert r.text == "tree/small.txt\n"

    swift_cli("post", cont, "tree/small.txt", "-m", "Owner:alice", "-m", "Kind:greeting")
    oh = admin_conn.head_object(cont, "tree/small.txt")
    assert oh["x-object-meta-owner"] == "alice"
    assert oh["x-object-meta-kind"] == "greeting"
    ost = stat_fields(swift_cli("stat", cont, "tree/small.txt").stdout)
    assert ost["Meta Owner"] == "alice"

    # `swift post` with no container creates one.
    newc = unique("cli-post-new")
    swift_cli("post", newc, "-w", "test:plain")
    assert admin_conn.head_container(newc)["x-container-write"] == "test:plain"


def test_delete_object_and_container(swift_cli, admin_conn, unique, tmp_path):
    make_tree(tmp_path)
    cont = unique("cli-del")
    swift_cli(
        "upload", cont, "tree/small.txt", "tree/big64k.bin", "tree/sub/nested.txt", cwd=tmp_path
    )

    out = swift_cli("delete", cont, "tree/small.txt")
    assert lines(out) == ["tree/small.txt"]
    _, listing = admin_conn.get_container(cont)
    assert [o["name"] for o in listing] == ["tree/big64k.bin", "tree/sub/nested.txt"]
    url, token = admin_conn.get_auth()
    assert requests.head(f"{url}/{cont}/tree/small.txt", headers={"X-Auth-Token": token}).status_code == 404

    # Deleting the container deletes every object in it first.
    out = swift_cli("delete", cont)
    assert sorted(lines(out)) == sorted(["tree/big64k.bin", "tree/sub/nested.txt", cont])
    r = requests.head(f"{url}/{cont}", headers={"X-Auth-Token": token})
    assert r.status_code == 404
    assert cont not in [c["name"] for c in admin_conn.get_account(full_listing=True)[1]]

    # Deleting something missing fails.
    missing = swift_cli("delete", cont, "nothing", check=False)
    assert missing.returncode != 0


def test_copy(swift_cli, admin_conn, unique):
    src = unique("cli-copy-src")
    dst = unique("cli-copy-dst")
    admin_conn.put_container(src)
    admin_conn.put_container(dst)
    body = os.urandom(70 * 1024)
    admin_conn.put_object(
        src, "orig.bin", body, content_type="application/x-cairn",
        headers={"X-Object-Meta-Color": "red"},
    )

    swift_cli("copy", src, "orig.bin", "-d", f"/{dst}/copy.bin", "-m", "Extra:yes")
    h, got = admin_conn.get_object(dst, "copy.bin")
    assert got == body
    assert h["etag"] == md5(body)
    assert h["content-type"] == "application/x-cairn"
    assert h["x-object-meta-color"] == "red"
    assert h["x-object-meta-extra"] == "yes"

    # --fresh-metadata drops the source's metadata.
    swift_cli("copy", src, "orig.bin", "-d", f"/{dst}/fresh.bin", "-M", "-m", "Only:this")
    h, got = admin_conn.get_object(dst, "fresh.bin")
    assert got == body
    assert h["x-object-meta-only"] == "this"
    assert "x-object-meta-color" not in h

    # Copy without a destination updates the object's metadata in place.
    swift_cli("copy", src, "orig.bin", "-m", "Added:1")
    h = admin_conn.head_object(src, "orig.bin")
    assert h["x-object-meta-added"] == "1"
    assert h["x-object-meta-color"] == "red"
    assert admin_conn.get_object(src, "orig.bin")[1] == body


def test_capabilities(swift_cli):
    out = swift_cli("capabilities", "--json")
    caps = json.loads(out.stdout)
    assert caps["swift"]["max_meta_name_length"] == 128
    assert caps["swift"]["max_file_size"] == 5 * 1024**3 + 2
