"""The INI parser against the real thing: oslo.config's own ConfigParser (in the
2026.1 venv) reads the same files; both must see the same assignments, in the same
order, and refuse the same files at the same line. And the generator, run through a
Host, produces metadata and samples this package reads back losslessly."""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from sidebyside.config.ini import Document
from sidebyside.config.metadata import generate_metadata, generate_metadata_text
from sidebyside.errors import InputError
from sidebyside.remote.base import RemoteError
from sidebyside.remote.local import LocalHost

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "data" / "config"

# Runs inside the venv: oslo.config's parser, recording every assignment in order.
READER = r"""
import json, sys
from oslo_config import cfg, iniparser

class Recorder(cfg.ConfigParser):
    def __init__(self, filename):
        super().__init__(filename, {})
        self.seen = []
    def assignment(self, key, value):
        super().assignment(key, value)
        self.seen.append([self.section, key, "\n".join(value)])

out = []
for path in json.load(sys.stdin):
    parser = Recorder(path)
    try:
        parser.parse()
        out.append({"assignments": parser.seen})
    except iniparser.ParseError as exc:
        out.append({"error_line": exc.lineno})
json.dump(out, sys.stdout)
"""

ATOMS = ["[DEFAULT]", "[sec]", "[Sec]", "[", "]", "key", "k2", " = ", "=", ":", " ", "\t",
         "#", ";", "\n", "\n", "\n", "\r\n", "\r", "'", '"', "value", "é", "[]", "  ",
         "x=y:z", "\n  cont", "\n\tcont"]


def corpus() -> list[str]:
    rng = random.Random(20260401)
    texts = ["[DEFAULT]\n" + "".join(rng.choice(ATOMS) for _ in range(rng.randint(0, 40)))
             for _ in range(300)]
    texts += ["".join(rng.choice(ATOMS) for _ in range(rng.randint(0, 40)))
              for _ in range(100)]
    nasty = (DATA / "nasty.conf").read_bytes().replace(b"\xe9", b"e").decode()
    texts.append(nasty)
    texts.append(re.sub(r"(?m)^(= no key|\[\]|\[unterminated|bad line.*)$", "", nasty))
    for sample in sorted((DATA / "samples").glob("*-2025.1.conf")):
        texts.append(re.sub(r"(?m)^#(?=[A-Za-z_][\w.-]* = )", "", sample.read_text()))
    return texts


def test_same_assignments_and_errors_as_oslo_config(oslo_config_venv: Path,
                                                    tmp_path: Path) -> None:
    texts = corpus()
    paths = []
    for index, text in enumerate(texts):
        path = tmp_path / f"{index}.conf"
        path.write_bytes(text.encode())
        paths.append(str(path))
    result = subprocess.run([str(oslo_config_venv / "python"), "-c", READER],
                            input=json.dumps(paths), capture_output=True, text=True,
                            check=True, timeout=120)
    theirs = json.loads(result.stdout)
    errors = 0
    for text, path, expected in zip(texts, paths, theirs, strict=True):
        ours = Document.parse(text.encode(), path=path)
        assert ours.render() == text
        if "error_line" in expected:
            errors += 1
            with pytest.raises(InputError) as refused:
                Document.parse(text.encode(), path=path, strict=True)
            found = re.search(r"\.conf:(\d+): ", str(refused.value))
            assert found is not None
            line = int(found.group(1))
            if "before any section" in str(refused.value):
                # oslo.config notices when it flushes the assignment (at the next line
                # or the end of the file); sbs names the assignment's own line
                assert line <= expected["error_line"]
            else:
                assert line == expected["error_line"], (text, str(refused.value))
            continue
        strict = Document.parse(text.encode(), path=path, strict=True)
        seen = [[block.name, entry.key, entry.value] for block, entry in strict.iter_entries()]
        assert seen == expected["assignments"], text
    # the corpus exercises both sides
    assert 20 < errors < len(texts) - 20


def test_generator_through_a_host(oslo_config_venv: Path) -> None:
    host = LocalHost()
    metadata, text = generate_metadata(host, str(oslo_config_venv), "keystone", "2026.1",
                                       namespaces=["oslo.config"])
    assert metadata.option("DEFAULT", "config-dir") is not None  # name and dest alike
    uri = metadata.option("sample_remote_file_source", "uri")
    assert uri is not None and uri.type == "uri value"
    assert "generator_options" in text
    sample = generate_metadata_text(host, str(oslo_config_venv), ["oslo.config"],
                                    output_format="ini")
    assert "#config_dir" in sample
    assert Document.parse(sample).render() == sample
    with pytest.raises(RemoteError, match="oslo-config-generator"):
        generate_metadata_text(host, str(oslo_config_venv), ["x"], output_format="nope")
