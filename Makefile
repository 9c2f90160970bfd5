# pg_helpdesk — PGXS build.
#
# The version lives in one place: default_version in pg_helpdesk.control.
# META.json must carry the same version; `make` refuses to build otherwise.

EXTENSION   = pg_helpdesk
EXTVERSION := $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)
META_VERSION := $(shell sed -n 's/^   "version": "\([^"]*\)".*/\1/p' META.json)

# The extension's subsystems, one folder each, in dependency order: a folder
# may call the folders before it, never those after it (extension/*/README.md).
# The install script is their SQL parts in this order (within a folder by
# file name), then extension/finish.sql.
SUBSYSTEMS  = core workers routing tickets integrations security automation reports bridge_api

MODULE_big  = pg_helpdesk
# common/: sources compiled into both the extension and helpdesk-bridge
OBJS        = extension/pg_helpdesk.o $(foreach sub,$(SUBSYSTEMS),$(patsubst %.c,%.o,$(sort $(wildcard extension/$(sub)/*.c)))) \
              $(patsubst %.c,%.o,$(sort $(wildcard common/*.c)))
# extension/access.sql: grants and row level security for everything above it
SQL_PARTS   = $(foreach sub,$(SUBSYSTEMS),$(sort $(wildcard extension/$(sub)/*.sql))) extension/access.sql extension/finish.sql
DATA_built  = extension/$(EXTENSION)--$(EXTVERSION).sql
# released install scripts and the upgrade chain (extension/upgrade/README.md)
DATA        = $(wildcard extension/upgrade/$(EXTENSION)--*.sql)

PG_CPPFLAGS = $(foreach sub,$(SUBSYSTEMS),-I$(srcdir)/extension/$(sub)) -I$(srcdir)/common \
              -DHD_EXTVERSION='"$(EXTVERSION)"'
SHLIB_LINK  = -lcrypto -ljansson -lcurl
# -Wextra makes PostgreSQL's own headers warn about unused parameters and
# partially initialised structs; silence exactly those two.
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-sign-compare

# pg_regress suites (sql/ + expected/), run against a running server.
REGRESS      = schema admin session message events
REGRESS_OPTS = --load-extension=pg_helpdesk
# Isolation specs live under test/isolation/{specs,expected}.
ISOLATION      = start_session_race post_message_idempotent post_into_closing_session event_commit_order \
                 claim_capacity_race offer_accept_vs_close heartbeat_order disable_vs_claim \
                 ticket_number_race ticket_agents_race \
                 autoclose_vs_reply csat_submit_race bot_answer_vs_keyword \
                 signed_nonce_race login_lockout_race
ISOLATION     += ticket_take_capacity_race tenant_grant_race
ISOLATION     += task_fire_once task_cancel_vs_trigger
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=pg_helpdesk

# Bitcode for JIT inlining buys nothing for these functions and would pull
# clang into the build.
override with_llvm = no

EXTRA_CLEAN = $(DATA_built) results regression.diffs regression.out output_iso \
              bridge/helpdesk-bridge bridge/helpdesk-bridge-asan bridge/fuzz-frames

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(DATA_built): $(SQL_PARTS) $(EXTENSION).control META.json
	@if [ "$(EXTVERSION)" != "$(META_VERSION)" ]; then \
	  echo "version mismatch: $(EXTENSION).control says '$(EXTVERSION)', META.json says '$(META_VERSION)'" >&2; \
	  exit 1; fi
	( echo "-- pg_helpdesk $(EXTVERSION): generated from the SQL parts of extension/*/ (Makefile SUBSYSTEMS), do not edit"; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION pg_helpdesk" to load this file. \quit'; \
	  cat $(SQL_PARTS) ) > $@

# every C file belongs to a listed subsystem (extension/pg_helpdesk.c, the
# module load above them all, aside)
UNLISTED := $(filter-out extension/pg_helpdesk.c $(addprefix extension/,$(addsuffix /%,$(SUBSYSTEMS))),$(wildcard extension/*/*.c extension/*.c))
ifneq ($(UNLISTED),)
$(error C files outside the listed subsystems: $(UNLISTED))
endif

all: $(DATA_built) bridge/helpdesk-bridge

# helpdesk-bridge (bridge/Makefile also builds the ASan/UBSan and fuzz variants)
BRIDGE_SOURCES = $(wildcard bridge/*.c bridge/*.h common/*.c common/*.h)
bridge/helpdesk-bridge: $(BRIDGE_SOURCES)
	$(MAKE) -C bridge helpdesk-bridge
install: install-bridge install-web
install-bridge: bridge/helpdesk-bridge
	install -D -m 755 bridge/helpdesk-bridge $(DESTDIR)/usr/local/bin/helpdesk-bridge
# the console and the widget (bridge/web/), served by the bridge at /console/ and /widget/
install-web:
	bash bridge/web/install.sh $(DESTDIR)/usr/local/share/helpdesk-bridge/web
.PHONY: install-bridge install-web

.PHONY: print-version test demo
print-version:
	@echo $(EXTVERSION)

# The README's commands; they install what they need first.
test:
	bash scripts/test
demo:
	bash scripts/demo
