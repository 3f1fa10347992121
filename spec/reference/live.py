# SPDX-License-Identifier: MIT
"""Live interoperability between the reference implementation and `rbx`:
transport lines (PROTOCOL.md 9.6) and bundle lines (9.7) exchanged in both
directions through real `rbx` processes and stores, out of order, with and
without header encryption, and across identity rotations of either side.
Every plaintext is checked on arrival."""

import os
import random
import subprocess
import tempfile

import protocol as P
import transport as T
from device import Device


class Rbx:
    """One `rbx` state directory."""

    def __init__(self, exe, root, name):
        self.exe, self.dir = exe, os.path.join(root, name)
        self.calls = 0

    def run(self, *args, data=b"", rc=0):
        self.calls += 1
        p = subprocess.run([self.exe, "--dir", self.dir] + list(args), input=data,
                           capture_output=True, timeout=60)
        if p.returncode != rc:
            raise AssertionError("rbx %s: exit %d, want %d: %s" %
                                 (" ".join(args), p.returncode, rc, p.stderr.decode()))
        return p.stdout, p.stderr.decode()

    def send(self, name, pt, he=False):
        out, _ = self.run("send", name, "-", *(["--header-encryption"] if he else []), data=pt)
        assert out.endswith(b"\n") and out.count(b"\n") == 1, "one transport line"
        return out

    def recv(self, line, want, sender=None):
        out, err = self.run("recv", "-", data=line)
        assert out == want, "rbx decrypted %r, want %r" % (out, want)
        if sender is not None:
            assert err.startswith("rbx: recv: from %s" % sender), err
        return err


class Live:
    def __init__(self, exe, profile=0):
        self.exe, self.profile = exe, profile
        self.cases = []
        self.messages = 0

    def case(self, name):
        self.cases.append(name)

    # A conversation between a reference device and an rbx store, in turns of
    # several messages delivered in a shuffled order.
    def exchange(self, py, py_name, rbx, rbx_name, turns, rnd, he=False, py_first=True):
        for t in range(turns):
            py_turn = (t % 2 == 0) == py_first
            n = rnd.randint(1, 4)
            pts = [("%s %d.%d from %s" % (rbx_name if py_turn else py_name, t, k,
                                          "ref" if py_turn else "rbx")).encode() for k in range(n)]
            if py_turn:
                lines = [py.send(py_name, pt, he) for pt in pts]
            else:
                lines = [rbx.send(rbx_name, pt, he) for pt in pts]
            order = list(range(n))
            rnd.shuffle(order)
            for i in order:
                if py_turn:
                    rbx.recv(lines[i], pts[i])
                else:
                    name, pt, _ = py.recv(lines[i])
                    assert name == py_name and pt == pts[i], (name, pt, pts[i])
                self.messages += 1

    def rbx_profiles(self):
        """The profiles rbx can be asked for (rbx send --profile), else its default."""
        out, _ = Rbx(self.exe, "/", "").run("send", "--help")
        return [0, 2] if b"--profile" in out else [None]

    def run(self, seed=20261207):
        rnd = random.Random(seed)
        with tempfile.TemporaryDirectory(prefix="rbx-reference-") as root:
            k = 0
            for profile in (0, 2):
                for he in (False, True):
                    k += 1
                    tag = "profile %d, %s" % (profile, "header encryption" if he else "clear header")
                    # The reference initiates from rbx's bundle line.
                    py, rbx = Device(profile=profile), Rbx(self.exe, root, "a%d" % k)
                    rbx.run("init")
                    out, _ = rbx.run("bundle")
                    c = py.add("rbx", out)
                    # 9.7: a store states its signed prekey's time: field 8, v2 statement
                    assert c.bundle.created is not None
                    first = [py.send("rbx", b"first %d" % i, he) for i in range(3)]
                    assert all(T.decode_line(x)[2] == "prekey" for x in first)
                    err = rbx.recv(first[2], b"first 2")           # out of order
                    me = err.split("from ")[1].split(" ")[0]
                    assert me == P.fingerprint(py.pk), "rbx names a new contact by its fingerprint"
                    rbx.recv(first[0], b"first 0")
                    self.exchange(py, "rbx", rbx, me, 6, rnd, he, py_first=False)
                    rbx.recv(first[1], b"first 1")                 # a late first message
                    self.messages += 3
                    self.case("the reference initiates, %s, out of order" % tag)
                    if profile == 2 and not he:
                        self.rotate_rbx(py, rbx, me, rnd)
            for profile in self.rbx_profiles():
                for he in (False, True):
                    k += 1
                    # rbx initiates from the reference's bundle line.
                    py, rbx = Device(), Rbx(self.exe, root, "b%d" % k)
                    rbx.run("init")
                    rbx.run("add", "ref", data=py.bundle_line())
                    opts = (["--header-encryption"] if he else []) + \
                        (["--profile", {0: "hmac", 2: "fast"}[profile]] if profile is not None
                         else [])
                    pts = [b"hello %d" % i for i in range(4)]
                    lines = []
                    for pt in pts:
                        out, _ = rbx.run("send", "ref", "-", *opts, data=pt)
                        lines.append(out)
                    for i in (1, 3, 0, 2):
                        name, pt, new = py.recv(lines[i])
                        assert pt == pts[i]
                        self.messages += 1
                    got = py.contacts[name].current.profile
                    assert profile is None or got == profile, (got, profile)
                    py.contacts["rbx"] = py.contacts.pop(name)
                    py.contacts["rbx"].name = "rbx"
                    self.exchange(py, "rbx", rbx, "ref", 6, rnd, he, py_first=True)
                    self.case("rbx initiates, profile %d, %s, out of order" %
                              (got, "header encryption" if he else "clear header"))
                    if not he and profile in (None, 2):
                        self.rotate_reference(py, rbx, rnd)
            self.first_contact_after_rotation(root, rnd, rbx_rotates=True)
            self.first_contact_after_rotation(root, rnd, rbx_rotates=False)
        return self.cases

    def first_contact_after_rotation(self, root, rnd, rbx_rotates):
        """6.4: the side that rotated makes the first contact with a peer that
        pinned its old key; its first messages carry the record, and the peer
        follows the chain from the first one that reaches it."""
        py = Device(profile=2)
        rbx = Rbx(self.exe, root, "c%d" % rbx_rotates)
        rbx.run("init")
        out, _ = rbx.run("bundle")
        py.add("rbx", out)                      # the reference pins rbx's key
        rbx.run("add", "ref", data=py.bundle_line())   # rbx pins the reference's
        if rbx_rotates:
            rbx.run("rotate", "identity", "--reason", "before first contact")
            lines = [rbx.send("ref", b"first contact %d" % i) for i in range(2)]
            for i in (1, 0):
                sender, _, kind, pkm = T.decode_line(lines[i])
                assert kind == "prekey" and len(pkm.rotation) == 1
                name, pt, new = py.recv(lines[i])
                assert (name, pt, new) == ("rbx", b"first contact %d" % i, False)
            assert len(py.contacts["rbx"].keys) == 2 and py.contacts["rbx"].pin[1] == 1
            self.exchange(py, "rbx", rbx, "ref", 4, rnd, py_first=True)
            self.case("rbx rotated before first contact: the reference follows the record "
                      "of its first message (6.4)")
        else:
            py.rotate()
            lines = [py.send("rbx", b"first contact %d" % i) for i in range(2)]
            assert len(T.decode_line(lines[0])[3].rotation) == 1
            rbx.recv(lines[1], b"first contact 1", sender="ref")
            rbx.recv(lines[0], b"first contact 0", sender="ref")
            self.messages += 2
            self.exchange(py, "rbx", rbx, "ref", 4, rnd, py_first=False)
            self.case("the reference rotated before first contact: rbx follows the record "
                      "of its first message (6.4)")

    def rotate_rbx(self, py, rbx, me, rnd):
        """rbx rotates its identity; the reference follows the records of its
        bundle from the key it pinned (16.2), old and new sessions both work."""
        old_session = py.contacts["rbx"].current
        rbx.run("rotate", "identity", "--reason", "live test")
        out, _ = rbx.run("bundle")
        py.add("rbx", out)                               # follows the chain
        c = py.contacts["rbx"]
        assert len(c.keys) == 2 and c.pin[1] == 1 and c.retired[-1] is old_session
        # In flight: rbx still sends on the old session (its sender key is new).
        line = rbx.send(me, b"old session after rotation")
        name, pt, _ = py.recv(line)
        assert (name, pt) == ("rbx", b"old session after rotation")
        # The reference's next message starts a session with the new key.
        line = py.send("rbx", b"to the new key")
        assert T.decode_line(line)[2] == "prekey"
        rbx.recv(line, b"to the new key", sender=me)
        self.messages += 2
        self.exchange(py, "rbx", rbx, me, 4, rnd, py_first=False)
        self.case("rbx rotates its identity; the reference follows the chain")

    def rotate_reference(self, py, rbx, rnd):
        """The reference rotates; rbx follows its records (rbx add) and its next
        message is a handshake with the new key."""
        py.rotate()
        out, err = rbx.run("add", "ref", data=py.bundle_line())
        assert "identity rotated" in out.decode() + err, out + err.encode()
        line = rbx.send("ref", b"to your new key")
        sender, wire, kind, pkm = T.decode_line(line)
        assert kind == "prekey" and pkm.identity_key != py.pk
        name, pt, _ = py.recv(line)
        assert (name, pt) == ("rbx", b"to your new key")
        self.messages += 1
        self.exchange(py, "rbx", rbx, "ref", 4, rnd, py_first=True)
        self.case("the reference rotates its identity; rbx follows the chain")
