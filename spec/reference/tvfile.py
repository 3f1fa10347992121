# SPDX-License-Identifier: MIT
"""Reader of the text vector format of spec/vectors/README.md: `#` comment
lines, blocks of `name = value` lines separated by one blank line."""


class Block(dict):
    def hex(self, name):
        return bytes.fromhex(self[name])

    def int(self, name):
        return int(self[name])


def load(path):
    blocks, cur = [], None
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            if line.strip() == "":
                if cur is not None:
                    blocks.append(cur)
                cur = None
                continue
            if "=" not in line:
                raise ValueError("%s:%d: not `name = value`" % (path, lineno))
            name, value = line.split("=", 1)
            name, value = name.strip(), value.strip()
            if cur is None:
                cur = Block()
            if name in cur:
                raise ValueError("%s:%d: %s twice in a block" % (path, lineno, name))
            cur[name] = value
    if cur is not None:
        blocks.append(cur)
    return blocks
