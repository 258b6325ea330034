"""``harness evidence prune``: keep ``evidence/`` to what the ledger needs.

Every run that changes a verdict writes a folder; without a rule the folder grows with every run.
Kept: each run a contract's ledger points at (``evidence:``), the one ``LATEST`` names, and the
newest ``--keep`` runs of each contract (so a rolled-back contract is still judged against the
newest evidence). Everything else under ``evidence/<contract>/`` that is a run folder goes.
"""

from __future__ import annotations

from harness.cli.common import EXIT_OK, fail, project_root


def register(sub, add) -> None:
    p = add("evidence", "Manage run evidence: `harness evidence prune [--keep N] [--dry-run]`.")
    p.add_argument("action", choices=["prune"], help="prune: remove run folders nothing points at, beyond the newest --keep")
    p.add_argument("--keep", type=int, default=5, help="newest runs kept per contract besides those the ledger points at (default 5)")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.set_defaults(func=cmd_evidence)


def cmd_evidence(args) -> int:
    import shutil

    from harness.cli.render import print_json
    from harness.evidence import prunable_runs
    from harness.snapshot import read_snapshot

    if args.keep < 0:
        return fail("evidence", "--keep must be 0 or more")
    root = project_root(args)
    snapshot = read_snapshot(root, sources=False, baseline=False)
    if any(f.is_error for f in snapshot.findings):
        return fail("evidence", "some contracts do not load (run `harness validate`); nothing pruned, since their evidence might be in use")
    doomed = prunable_runs(snapshot.store, snapshot.contracts, args.keep)
    if not args.dry_run:
        for path in doomed:
            shutil.rmtree(path)
    if args.json:
        print_json({"removed" if not args.dry_run else "would_remove": [str(p.relative_to(root)) for p in doomed]})
    else:
        verb = "would remove" if args.dry_run else "removed"
        for path in doomed:
            print(f"{verb} {path.relative_to(root)}")
        print(f"{verb} {len(doomed)} run folder(s); kept what the ledger points at, LATEST and the newest {args.keep} per contract")
    return EXIT_OK
