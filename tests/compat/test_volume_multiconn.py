"""Several NBD connections to one attached volume at once (the server
advertises multi-conn): qemu-io processes writing interleaved, disjoint
ranges at the same time, nbdcopy with four connections each way, and the
bytes surviving a kill -9 of the appliance.
"""

import subprocess

from test_openstack_volume import MIB, Cinder, random_file, read_back, run, tool


def test_connections_write_disjoint_ranges_at_once_and_survive_kill_9(cairn_factory, tmp_path):
    server = cairn_factory()
    server.start()
    c = Cinder(server.openrc)
    vol = c.create(size=1, name="multiconn")
    att, uri = c.attach(vol)
    info = run(tool("nbdinfo"), "--json", uri).stdout.decode()
    assert '"can_multi_conn": true' in info, info

    # Two writers at once: A takes the even 256 KiB chunks of the first
    # 16 MiB, B the odd ones; each flushes at the end.
    chunk, chunks = 256 * 1024, 64
    data = random_file(tmp_path / "src.raw", chunk * chunks, seed=11)
    writers = []
    for parity in (0, 1):
        # qemu-io's `write -s FILE` reads from FILE's start: each chunk
        # gets a file of its own.
        cmds = []
        for i in range(parity, chunks, 2):
            piece = tmp_path / f"piece{i}.raw"
            piece.write_bytes(data[i * chunk:(i + 1) * chunk])
            cmds += ["-c", f"write -s {piece} {i * chunk} {chunk}"]
        cmds += ["-c", "flush"]
        writers.append(subprocess.Popen([tool("qemu-io"), "-f", "raw", *cmds, uri],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    for w in writers:
        out, _ = w.communicate(timeout=120)
        assert w.returncode == 0 and b"failed" not in out, out
    back = tmp_path / "back.raw"
    assert read_back(uri, back, len(data)) == data

    # nbdcopy splits the work over four connections, both ways.
    big = tmp_path / "big.raw"
    big_data = random_file(big, 24 * MIB, seed=12)
    run(tool("nbdcopy"), "--connections=4", "--flush", str(big), uri, timeout=300)
    copied = tmp_path / "copied.raw"
    run(tool("nbdcopy"), "--connections=4", uri, str(copied), timeout=300)
    with open(copied, "rb") as f:
        assert f.read(len(big_data)) == big_data

    # What was flushed survives a kill -9 and the restart.
    server.proc.kill()
    server.proc.wait()
    server.proc = None
    server.start()
    c = Cinder(server.openrc)
    r = c.call("GET", f"/attachments/{att}", expect=200).json()["attachment"]
    d = r["connection_info"]["data"]
    uri = f"nbd://{d['host']}:{d['port']}/{d['export_name']}"
    assert read_back(uri, back, len(big_data)) == big_data
