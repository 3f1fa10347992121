# SPDX-License-Identifier: MIT
# The addon links libratchetbox statically: rbx_static compiles the library's
# sources (deps/ratchetbox, copied from the repository by scripts/vendor.js or
# shipped in the package tarball) with the flags the Makefile uses; the
# system libraries it needs (libsodium, SQLite, protobuf-c, libxeddsa) are
# the machine's Debian packages, found with pkg-config. scripts/build.js runs
# node-gyp with --nodedir pointing at the machine's Node headers: nothing is
# downloaded.
{
  "variables": {
    "rbx_bench%": 0,
    "rbx_deps": "deps/ratchetbox",
  },
  "target_defaults": {
    "include_dirs": [
      "<(rbx_deps)/include",
      "<(rbx_deps)/src",
      "<(rbx_deps)/src/compat",
      "<(rbx_deps)/gen",
    ],
    "cflags": [
      "<!@(pkg-config --cflags libsodium libprotobuf-c sqlite3)",
      "-fPIC",
      "-fvisibility=hidden",
    ],
  },
  "targets": [
    {
      "target_name": "rbx_static",
      "type": "static_library",
      "sources": ["<!@(node scripts/vendor.js --list)"],
      "cflags_c": ["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-O2"],
    },
    {
      "target_name": "ratchetbox",
      "dependencies": ["rbx_static"],
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/session.cc",
        "src/store.cc",
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(INTERMEDIATE_DIR)",
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "libraries": [
        "<!@(pkg-config --libs libsodium libprotobuf-c sqlite3)",
        "-lxeddsa",
      ],
      "actions": [
        {
          "action_name": "rbx_errors",
          "inputs": ["scripts/gen-errors.js", "<(rbx_deps)/include/ratchetbox.h"],
          "outputs": ["<(INTERMEDIATE_DIR)/rbx_errors.h"],
          "action": ["node", "scripts/gen-errors.js", "<(rbx_deps)/include/ratchetbox.h",
                     "<(INTERMEDIATE_DIR)/rbx_errors.h"],
        },
      ],
    },
    {
      # make bench-node only (scripts/build.js --bench): the C reference
      # loops, compiled against the same rbx_static as the addon.
      "target_name": "ratchetbox_bench",
      "conditions": [
        ["rbx_bench==1", {
          "dependencies": ["rbx_static"],
          "sources": ["src/bench.cc"],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
          "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
          "cflags_cc": ["-std=c++17", "-fexceptions"],
          "libraries": [
            "<!@(pkg-config --libs libsodium libprotobuf-c sqlite3)",
            "-lxeddsa",
          ],
        }, {
          "type": "none",
        }],
      ],
    },
  ],
}
