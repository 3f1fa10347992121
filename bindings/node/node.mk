# The Node.js binding (bindings/node, the npm package ratchetbox), included by
# the top-level Makefile. SPDX-License-Identifier: MIT
#
# make check-node   npm ci (node-addon-api, TypeScript; from npm's cache when
#                   it has them), which builds the addon (scripts/build.js:
#                   node-gyp against /usr/include/node, the library compiled
#                   in), then npm test: every Store method and error code,
#                   concurrency, interop with build/rbx, the leak test, the
#                   RbxdClient, and npm pack + an offline install of the
#                   tarball in an empty project running the README's
#                   TypeScript example, and the multi-device calls against
#                   build/rbxd (test/users.test.js). Once rbxd is in this tree
#                   (server/main.c), also the example of the product's flow
#                   (examples/agent-to-phone.js) against build/rbxd.
# make bench-node   bench/bench.js: the binding against the C calls, in one run;
#                   results in bench/results/node.txt.

# node-gyp needs a C++ compiler and python3; Node 20 itself (with its
# headers in /usr/include/node) comes with the machine.
DEB_PKGS  += g++ python3
NODE_DIR  := bindings/node
NPM       ?= npm
RBXD_BIN  := $(if $(wildcard server/main.c),$(B)/rbxd)

.PHONY: check-node bench-node node-deps

node-deps:
	cd $(NODE_DIR) && $(NPM) ci --prefer-offline --no-audit --no-fund

check-node: $(B)/rbx $(RBXD_BIN) $(if $(RBXD_BIN),$(B)/tools/badserver)
	$(MAKE) --no-print-directory node-deps
	cd $(NODE_DIR) && RBX='$(CURDIR)/$(B)/rbx' $(if $(RBXD_BIN),RBXD='$(CURDIR)/$(RBXD_BIN)' BADSERVER='$(CURDIR)/$(B)/tools/badserver') $(NPM) test
	$(if $(RBXD_BIN),cd $(NODE_DIR) && node examples/agent-to-phone.js --rbxd '$(CURDIR)/$(RBXD_BIN)')

bench-node:
	$(MAKE) --no-print-directory node-deps
	cd $(NODE_DIR) && node scripts/build.js --bench
	@mkdir -p $(BENCH_RESULTS)
	cd $(NODE_DIR) && node bench/bench.js --out ../../$(BENCH_RESULTS)/node.txt.tmp
	mv $(BENCH_RESULTS)/node.txt.tmp $(BENCH_RESULTS)/node.txt
