"""``xieshang``: run targets, migrate, load reference data, inspect the bus, mint bootstrap tokens.

Heavy imports happen inside the commands: ``run`` must set ``PROMETHEUS_MULTIPROC_DIR`` before
prometheus_client is first imported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from shared.config import ConfigError, load_settings


def _settings(args):
    settings = load_settings()
    if getattr(args, "port", None):
        settings = settings.replace(port=args.port)
    if getattr(args, "host", None):
        settings = settings.replace(host=args.host)
    return settings


def _prepare_metrics_dir(settings, target: str) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    else:
        directory = settings.data_dir.resolve() / "prometheus" / f"{target}-{settings.port}"
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    # Samples of a previous run's dead processes would be summed into this run's figures.
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


def cmd_run(args) -> int:
    settings = _settings(args)
    from xieshang.targets import MODULES

    module = MODULES.get(args.target)
    if module is None:
        print(f"unknown target {args.target!r}; choose one of: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    if module.serves_http:
        # ``all`` keeps one process: the in-memory bus cannot cross processes.
        workers = 1 if args.target == "all" and not settings.uses_broker else settings.web_concurrency
        if workers > 1:
            _prepare_metrics_dir(settings, args.target)
        from shared.logs import configure_logging

        configure_logging(settings.log_level, args.target)
        from xieshang.server import GunicornServer

        print(f"Xieshang {args.target} listening on http://{settings.host}:{settings.port}/", file=sys.stderr)
        GunicornServer(settings, args.target, workers).run()
        return 0
    from shared.logs import configure_logging
    from xieshang.server import run_worker

    configure_logging(settings.log_level, args.target)

    run_worker(settings, args.target)
    return 0


def cmd_db_upgrade(args) -> int:
    from xieshang.platform import Platform

    platform = Platform(_settings(args))
    owners = platform.migrations()
    unknown = set(args.services) - set(owners)
    if unknown:
        print(f"unknown database(s): {', '.join(sorted(unknown))}; choose from {', '.join(owners)}", file=sys.stderr)
        return 2
    platform.migrate(args.services or None)
    print(f"migrated: {', '.join(args.services or owners)}")
    return 0


def cmd_db_revision(args) -> int:
    from shared.migrations import revision
    from xieshang.platform import Platform

    platform = Platform(_settings(args))
    script_location, metadata = platform.migrations()[args.service]
    revision(script_location, platform.settings.database_url(args.service), metadata, args.message)
    return 0


def cmd_divisions_load(args) -> int:
    from services.tracking import services
    from shared.divisions import REFERENCE_CSV, DivisionFileError, parse_csv
    from xieshang.platform import Platform

    path = Path(args.file) if args.file else REFERENCE_CSV
    try:
        divisions = parse_csv(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2
    except DivisionFileError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    platform = Platform(_settings(args))
    runtime = platform.runtime("tracking")
    with runtime.unit_of_work() as uow:
        changed = services.load_divisions(uow, divisions, resync=args.resync)
    _publish_now(platform, runtime)
    print(f"{len(divisions)} divisions read, {len(changed)} new or changed")
    return 0


def _publish_now(platform, runtime) -> None:
    """Publish the outbox now if the broker is there (otherwise the running relay will), and stop."""
    if platform.settings.uses_broker:
        from shared.bus.broker import PublishError

        try:
            runtime.relay().drain()
        except PublishError as exc:
            print(f"broker unreachable ({exc}); events stay in the outbox for the relay", file=sys.stderr)
    platform.stop()


def _resync(args, service: str, use_case: str, what: str) -> int:
    """Publish a replicated registry again (``use_case`` of ``service``'s use cases), now."""
    import importlib

    from xieshang.platform import Platform

    services = importlib.import_module(f"services.{service}.services")
    platform = Platform(_settings(args))
    runtime = platform.runtime(service)
    with runtime.unit_of_work() as uow:
        count = getattr(services, use_case)(uow)
    _publish_now(platform, runtime)
    print(f"{count} {what} republished")
    return 0


def cmd_organisations_resync(args) -> int:
    return _resync(args, "tracking", "resync_organisations", "organisations")


def cmd_contacts_resync(args) -> int:
    return _resync(args, "notify", "resync_contacts", "contacts")


def cmd_contacts_rekey(args) -> int:
    """Move every stored number and hash to the current phone key (the previous one set), in batches."""
    from services.notify.phones import vault_for
    from services.notify.rekey import rekey
    from xieshang.platform import Platform

    platform = Platform(_settings(args))
    runtime = platform.runtime("notify")
    try:
        done, _ = rekey(runtime.unit_of_work, vault_for(platform.settings), batch=args.batch)
    finally:
        platform.stop()
    print(f"{done.contacts} contact number(s) encrypted again, {done.hashes} number hash(es) moved, "
          f"{done.answers} queued answer(s) encrypted again")  # fmt: skip
    if done.unreadable:
        print(f"{done.unreadable} number(s) open under neither key: is XIESHANG_NOTIFY_PHONE_KEY_PREVIOUS "
              "the key being retired?", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def cmd_events_dead_letters(args) -> int:
    from shared.bus.deadletters import list_dead_letters
    from xieshang.platform import Platform

    platform = Platform(_settings(args))
    services = [args.service] if args.service else sorted(platform.topology.subscriptions)
    letters = []
    for service in services:
        letters += list_dead_letters(platform.settings.amqp_url, platform.topology, service, args.limit)
    if args.json:
        print(json.dumps([letter.summary() for letter in letters], ensure_ascii=False, indent=2))
    else:
        for letter in letters:
            print(
                f"{letter.service}\t{letter.event_id}\t{letter.event_type}\t{letter.dead_lettered_at}\t{letter.error}"
            )
        print(f"{len(letters)} dead letter(s)")
    return 0


def cmd_events_replay(args) -> int:
    from shared.bus.deadletters import replay_dead_letters
    from xieshang.platform import Platform

    platform = Platform(_settings(args))
    ids = set(args.event_id) if args.event_id else None
    replayed = replay_dead_letters(platform.settings.amqp_url, platform.topology, args.service, ids)
    print(f"{len(replayed)} message(s) re-queued to {platform.topology.queue_name(args.service)}")
    return 0


def cmd_auth_token(args) -> int:
    from shared.auth import TokenIssuer
    from shared.keys import KeyStore
    from shared.principal import Principal, validate_scope

    try:
        validate_scope(args.role, args.scope)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    settings = _settings(args)
    issuer = TokenIssuer(KeyStore(settings.keys_dir), settings.token_ttl)
    print(issuer.issue(Principal(args.subject, args.role, args.scope), ttl=args.ttl))
    return 0


def _accounts(args):
    from xieshang.platform import Platform

    return Platform(_settings(args)).gateway().accounts


def _problem_exit(exc) -> int:
    print(exc.detail or exc.title, file=sys.stderr)
    return 2


def cmd_users_create(args) -> int:
    from shared.problems import Problem

    if not args.password_stdin:
        print("give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        account_id = _accounts(args).create_user(args.username, password, args.role, args.scope)
    except Problem as exc:
        return _problem_exit(exc)
    print(f"created {args.role} {args.username} (scope {args.scope}, id {account_id})")
    return 0


def cmd_apikeys_create(args) -> int:
    from shared.problems import Problem

    try:
        key = _accounts(args).create_api_key(args.name, args.scope, args.rate)
    except Problem as exc:
        return _problem_exit(exc)
    print(f"API key for {args.name} (role system, scope {args.scope}, {args.rate}/min); it is shown only once:")
    print(key)
    return 0


def cmd_apikeys_revoke(args) -> int:
    from shared.problems import Problem

    try:
        _accounts(args).revoke_api_key(args.name)
    except Problem as exc:
        return _problem_exit(exc)
    print(f"revoked {args.name}")
    return 0


def cmd_keys_rotate(args) -> int:
    from shared.keys import KeyStore

    key = KeyStore(_settings(args).keys_dir).rotate()
    print(f"new signing key {key.kid}")
    return 0


def cmd_config(args) -> int:
    from shared.config import configuration_table

    table = configuration_table()
    if not args.update:
        print(table)
        return 0
    path = Path(args.update)
    text = path.read_text(encoding="utf-8")
    start, end = "<!-- config:start", "<!-- config:end -->"
    head, _, rest = text.partition(start)
    marker_line, _, _ = rest.partition("\n")
    _, _, tail = rest.partition(end)
    path.write_text(f"{head}{start}{marker_line}\n{table}\n{end}{tail}", encoding="utf-8")
    print(f"updated the configuration table in {path}")
    return 0


def cmd_sms_callback_urls(args) -> int:
    """The signed URLs SMS providers call back, for the provider's configuration."""
    from services.notify.phones import vault_for

    settings = load_settings()
    base = (args.base or settings.sms_callback_url or "").rstrip("/")
    if not base:
        print("set XIESHANG_SMS_CALLBACK_URL or pass --base", file=sys.stderr)
        return 2
    vault = vault_for(settings)
    kannel = f"{base}/replies/kannel?sig={vault.sign('replies:kannel')}&from=%p&to=%P&text=%a"
    print(f"kannel sms-service get-url: {kannel}")
    print(f"http platform replies (POST JSON {{from, text}}): {base}/replies/http?sig={vault.sign('replies:http')}")
    return 0


def cmd_sms_receive(args) -> int:
    """A resident's SMS to the service number, as if the provider had called notify's replies URL
    (the embedded default has no SMS gateway): read and acted on as any reply, the answer SMS queued."""
    from services.notify import services
    from services.notify.phones import vault_for
    from xieshang.platform import Platform

    platform = Platform(_settings(args))
    runtime = platform.runtime("notify")
    vault = vault_for(platform.settings)
    with runtime.unit_of_work() as uow:
        action = services.reply(uow, vault, provider="http", signature=vault.sign("replies:http"),
                                sender=args.sender, text=args.text, now=runtime.now())  # fmt: skip
    _publish_now(platform, runtime)
    print(action)
    return 0


def cmd_targets(_args) -> int:
    from xieshang.targets import MODULES

    for module in MODULES.values():
        deps = f" (= {', '.join(module.deps)} + gateway)" if module.deps else ""
        print(f"{module.name}{deps}")
    return 0


COVERAGE_LEVELS = {"district": 6, "street": 9, "community": 12}
COVERAGE_COLUMNS = ("区划代码", "名称", "社区数", "已覆盖", "覆盖率", "规律性", "居民议题占比", "近3月新覆盖",
                    "沉默社区", "预计全覆盖", "按期达标")  # fmt: skip
SHARES = (4, 5, 6)  # the columns that are ratios: shown as percentages, written to CSV as numbers


def _share(value) -> float | str:
    return "" if value is None else round(float(value), 4)


def _coverage_row(line, target, today) -> tuple:
    from services.tracking import domain

    f = line.figures
    projected = f.projected_full_coverage(today)
    on_track = {True: "是", False: "否", None: ""}[domain.on_track(f, target, today)]
    return (line.code or "全国", line.name or "", f.communities, f.covered, _share(f.ratio), _share(f.regularity),
            _share(f.bottom_up_ratio), f.newly_covered_recently, line.silent, projected or "", on_track)  # fmt: skip


def cmd_coverage_report(args) -> int:
    """The coverage table of a scope (its line first, then one per area of the level) from tracking's
    running aggregates, as the coverage API computes it; ``--csv`` writes it too."""
    import csv
    from fractions import Fraction

    from services.tracking import domain, services
    from shared.principal import Principal
    from shared.problems import Problem
    from xieshang.platform import Platform

    settings = _settings(args)
    runtime = Platform(settings).runtime("tracking")
    today = domain.beijing_date(runtime.now())
    target = domain.Target(Fraction(settings.coverage_target).limit_denominator(1000), settings.coverage_deadline)
    console = Principal("console", "system", "")  # who runs the CLI reads the whole registry
    try:
        with runtime.unit_of_work(read_only=True) as uow:
            lines = services.coverage(uow, console, scope=args.scope, level_digits=COVERAGE_LEVELS[args.level],
                                      today=today, window=args.months or settings.coverage_window_months,
                                      silent_months=settings.silent_months)  # fmt: skip
    except Problem as exc:
        return _problem_exit(exc)
    rows = [_coverage_row(line, target, today) for line in lines]
    print(f"覆盖率报告 截至 {today} · 窗口 {args.months or settings.coverage_window_months} 个月 · "
          f"目标 {float(target.ratio):.0%} 于 {target.deadline}")  # fmt: skip
    shown = [tuple(f"{v:.1%}" if n in SHARES and v != "" else v for n, v in enumerate(row)) for row in rows]
    print(_table(COVERAGE_COLUMNS, shown))
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(("as_of", "target_ratio", "target_deadline", *COVERAGE_COLUMNS))
            writer.writerows((today, float(target.ratio), target.deadline, *row) for row in rows)
        print(f"written: {args.csv}")
    return 0


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    """Columns aligned for a terminal, counting a Chinese character as two columns."""
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    cells = [list(map(str, header)), *([str(cell) for cell in row] for row in rows)]
    widths = [max(width(row[n]) for row in cells) for n in range(len(header))]
    return "\n".join(
        "  ".join(cell + " " * (widths[n] - width(cell)) for n, cell in enumerate(row)).rstrip() for row in cells
    )


def cmd_demo(args) -> int:
    """池阳街道's matters played through the running gateway (``make run``), once."""
    from xieshang.demo import Demo, DemoError, http_transport, printed
    from xieshang.platform import Platform

    settings = _settings(args)
    url = (args.url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    platform = Platform(settings)
    try:
        summary = Demo(http_transport(url), platform.gateway().accounts, settings.data_dir).run()
    except DemoError as exc:
        print(f"demo stopped: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot reach the gateway at {url} ({exc}); start it with `make run` first", file=sys.stderr)
        return 1
    finally:
        platform.stop()
    print(printed(summary, url))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xieshang", description="Xieshang community consultation platform")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a target (all, gateway, <service>-api, <service>-worker)")
    run.add_argument("--target", default="all")
    run.add_argument("--port", type=int)
    run.add_argument("--host")
    run.set_defaults(func=cmd_run)

    db = sub.add_parser("db", help="database migrations").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="migrate services' databases to the newest revision")
    up.add_argument("services", nargs="*")
    up.set_defaults(func=cmd_db_upgrade)
    rev = db.add_parser("revision", help="autogenerate a migration for one service")
    rev.add_argument("service")
    rev.add_argument("-m", "--message", required=True)
    rev.set_defaults(func=cmd_db_revision)

    div = sub.add_parser("divisions", help="the division registry").add_subparsers(dest="div_command", required=True)
    load = div.add_parser("load", help="load or update divisions from a CSV (default: the shipped 池州市 file)")
    load.add_argument("file", nargs="?")
    load.add_argument("--resync", action="store_true", help="republish every division, changed or not")
    load.set_defaults(func=cmd_divisions_load)

    cov = sub.add_parser("coverage", help="coverage figures (tracking)")
    cov = cov.add_subparsers(dest="cov_command", required=True)
    report = cov.add_parser("report", help="the coverage table of a scope: areas x figures, target, projected date")
    report.add_argument("--scope", default="", help="a division code prefix (default: the whole registry)")
    report.add_argument("--level", choices=tuple(COVERAGE_LEVELS), default="district", help="one line per area of")
    report.add_argument("--months", type=int, help="the coverage window (default XIESHANG_COVERAGE_WINDOW_MONTHS)")
    report.add_argument("--csv", help="also write the table to this CSV file")
    report.set_defaults(func=cmd_coverage_report)

    org = sub.add_parser("organisations", help="organisations that carry outcomes out (tracking)")
    org_sub = org.add_subparsers(dest="org_command", required=True)
    org_sub.add_parser("resync", help="republish every organisation, to fill a new replica").set_defaults(
        func=cmd_organisations_resync
    )

    con = sub.add_parser("contacts", help="notify's contact directory")
    con_sub = con.add_subparsers(dest="contacts_command", required=True)
    con_sub.add_parser("resync", help="republish every contact (ids only), to fill a new replica").set_defaults(
        func=cmd_contacts_resync
    )
    rk = con_sub.add_parser("rekey", help="move every stored number and hash to the current phone key (rotation)")
    rk.add_argument("--batch", type=int, default=500, help="rows per transaction")
    rk.set_defaults(func=cmd_contacts_rekey)

    ev = sub.add_parser("events", help="the event bus").add_subparsers(dest="ev_command", required=True)
    dl = ev.add_parser("dead-letters", help="list dead-lettered events")
    dl.add_argument("--service")
    dl.add_argument("--limit", type=int, default=100)
    dl.add_argument("--json", action="store_true")
    dl.set_defaults(func=cmd_events_dead_letters)
    rp = ev.add_parser("replay", help="re-queue dead-lettered events to their service")
    rp.add_argument("--service", required=True)
    rp.add_argument("--event-id", action="append")
    rp.set_defaults(func=cmd_events_replay)

    auth = sub.add_parser("auth", help="bootstrap tokens").add_subparsers(dest="auth_command", required=True)
    tok = auth.add_parser("token", help="mint an access token signed with the gateway's key")
    tok.add_argument("--subject", required=True)
    tok.add_argument("--role", required=True)
    tok.add_argument("--scope", required=True)
    tok.add_argument("--ttl", type=int, default=None, help="seconds (default XIESHANG_TOKEN_TTL)")
    tok.set_defaults(func=cmd_auth_token)

    users = sub.add_parser("users", help="accounts").add_subparsers(dest="users_command", required=True)
    uc = users.add_parser("create", help="create an account (password read from standard input)")
    uc.add_argument("--username", required=True)
    uc.add_argument("--password-stdin", action="store_true")
    uc.add_argument("--role", required=True)
    uc.add_argument("--scope", required=True, help="division-code prefix, e.g. 3417 for 池州市")
    uc.set_defaults(func=cmd_users_create)

    apikeys = sub.add_parser("apikeys", help="API keys of district systems")
    apikeys = apikeys.add_subparsers(dest="apikeys_command", required=True)
    ac = apikeys.add_parser("create", help="create a key (printed once, on the last line)")
    ac.add_argument("--name", required=True)
    ac.add_argument("--scope", required=True)
    ac.add_argument("--rate", type=int, default=600, help="requests per minute")
    ac.set_defaults(func=cmd_apikeys_create)
    ar = apikeys.add_parser("revoke", help="revoke a key by name")
    ar.add_argument("--name", required=True)
    ar.set_defaults(func=cmd_apikeys_revoke)

    keys = sub.add_parser("keys", help="token signing keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("rotate", help="add a new signing key").set_defaults(func=cmd_keys_rotate)

    cfg = sub.add_parser("config", help="print the configuration variables")
    cfg.add_argument("--update", metavar="FILE", help="replace the table between the config markers in FILE")
    cfg.set_defaults(func=cmd_config)
    sub.add_parser("targets", help="list run targets").set_defaults(func=cmd_targets)

    sms = sub.add_parser("sms", help="SMS providers").add_subparsers(dest="sms_command", required=True)
    cb = sms.add_parser("callback-urls", help="print the signed reply URLs to configure at the SMS provider")
    cb.add_argument("--base", help="notify's SMS base URL as the provider reaches it (default: the setting)")
    cb.set_defaults(func=cmd_sms_callback_urls)
    rc = sms.add_parser("receive", help="simulate a resident's SMS to the service number (a reply, 查询, a matter)")
    rc.add_argument("--from", dest="sender", required=True, help="the resident's number, e.g. 13800138000")
    rc.add_argument("--text", required=True, help="what they wrote, e.g. 1, Y, 查询K472")
    rc.set_defaults(func=cmd_sms_receive)

    demo = sub.add_parser("demo", help="load 池阳街道's demo through the running gateway (idempotent)")
    demo.add_argument("--url", help="the gateway's base URL (default http://127.0.0.1:$PORT)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
