"""The built lmpipe programs as the reference checks run them (check_transformers*.py): each in the work
directory, stdin from bytes, and a failure stops the check with the program's stderr; and the checks'
report of what matched."""
import os, subprocess


class Programs:
    def __init__(self, check, work, paths):
        """check: the script's name for messages; paths: program name -> path (made absolute: they run in work)."""
        self.check = check
        self.work = work
        self.paths = {name: os.path.abspath(path) for name, path in paths.items()}
        missing = [p for p in self.paths.values() if not os.access(p, os.X_OK)]
        if missing:
            raise SystemExit(f"{check}: error: not built: {', '.join(missing)}")

    def run(self, name, *argv, stdin=None, expect_failure=False):
        r = subprocess.run([self.paths[name], *map(str, argv)], cwd=self.work, input=stdin, capture_output=True)
        if expect_failure:
            return r
        if r.returncode != 0:
            raise SystemExit(f"{self.check}: error: {name} {' '.join(map(str, argv))}: {r.stderr.decode().strip()}")
        return r.stdout

    def pipe(self, *stages):
        """stage | stage | ...: each stage's stdout is the next one's stdin."""
        data = None
        for name, *argv in stages:
            data = self.run(name, *argv, stdin=data)
        return data


class Report:
    """Counts the checks and prints each as it is decided."""

    def __init__(self):
        self.passed, self.failed = 0, 0

    def say(self, ok, text):
        self.passed += ok
        self.failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {text}", flush=True)

    def note(self, text):
        print(f"  note {text}", flush=True)
