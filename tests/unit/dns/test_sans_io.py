"""testbed.dns stays sans-IO: only the adapter (client.py) may touch Twisted or sockets."""

import ast
import pathlib
import subprocess
import sys

import testbed.dns

PACKAGE = pathlib.Path(testbed.dns.__file__).parent
FORBIDDEN = {"socket", "time", "asyncio", "twisted", "select", "selectors"}


def imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_only_the_adapter_imports_io_modules():
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "client.py":
            continue
        assert not FORBIDDEN & set(imported_modules(path)), path.name


def test_importing_the_package_and_running_a_plan_loads_no_io_module():
    code = (
        "import random, sys\n"
        "import testbed.dns as d\n"
        "p = d.Rfc3263Plan('sip:example.com', 'AUTO', d.DEFAULT_SUPPORTED, random.Random(1))\n"
        "while (q := p.next_query()) is not None:\n"
        "    p.answer(q, [])\n"
        "d.order_srv([d.SrvRecord(1, 1, 5060, 'a'), d.SrvRecord(1, 2, 5060, 'b')],"
        " random.Random(1))\n"
        "print(sorted(m for m in ('twisted', 'socket', 'asyncio') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=PACKAGE.parent.parent)
    assert result.stdout.strip() == "[]"
