"""Runs the end-to-end tests (tests/e2e/test_*.py) and prints TAP.

Each test is a function test_<name>() in a test_*.py module; it fails by raising. Tests
need root: they load BPF programs and create cgroups."""

import argparse
import glob
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

TIMEOUT = 180  # seconds per test


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("test exceeded %ds" % TIMEOUT)


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return name, mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", default="", help="run only tests whose name contains this")
    args = ap.parse_args()
    os.environ["CTRLSCOPE_BUILD"] = os.path.abspath(args.build)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    tests = []
    for path in sorted(glob.glob(os.path.join(here, "test_*.py"))):
        name, mod = load(path)
        for attr in sorted(dir(mod)):
            if attr.startswith("test_") and callable(getattr(mod, attr)):
                full = "%s.%s" % (name, attr)
                if args.k in full:
                    tests.append((full, getattr(mod, attr)))
    print("1..%d" % len(tests))
    signal.signal(signal.SIGALRM, on_alarm)
    failed = 0
    for i, (name, fn) in enumerate(tests, 1):
        start = time.time()
        # Everything a test puts in temporary directories (certificates, configs, an etcd
        # data directory of 60 MiB...) goes under one of its own: removed when it passes,
        # kept for a look when it fails.
        tempfile.tempdir = None
        tempfile.tempdir = tempfile.mkdtemp(prefix="ctrlscope-test-")
        os.chmod(tempfile.tempdir, 0o755)  # as /tmp: tests that drop privileges look inside
        signal.alarm(TIMEOUT)
        passed = False
        try:
            if os.geteuid() != 0:
                raise AssertionError("end-to-end tests must run as root")
            fn()
            passed = True
            print("ok %d - %s (%.1fs)" % (i, name, time.time() - start))
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failed += 1
            print("not ok %d - %s (%.1fs)" % (i, name, time.time() - start))
            for line in ("%s: %s" % (type(e).__name__, e)).splitlines() + \
                    traceback.format_exc().splitlines()[-6:]:
                print("#   " + line)
        finally:
            signal.alarm(0)
            if passed:
                shutil.rmtree(tempfile.tempdir, ignore_errors=True)
            else:
                print("#   its files: %s" % tempfile.tempdir)
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
