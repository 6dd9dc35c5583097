from sidebyside.actions.config import config_delta


def manifest(**files):
    return {"entries": [{"path": p, "sha256": h} for p, h in files.items()]}


def test_delta_names_added_removed_and_changed_files():
    before = manifest(**{"/etc/k/a.conf": "1", "/etc/k/b.conf": "2", "/etc/k/gone": "3"})
    after = manifest(**{"/etc/k/a.conf": "1", "/etc/k/b.conf": "9", "/etc/k/new": "4"})
    assert config_delta(before, after) == ["added /etc/k/new", "removed /etc/k/gone",
                                           "changed /etc/k/b.conf"]


def test_no_delta_without_a_prepare_manifest_or_changes():
    same = manifest(**{"/etc/k/a.conf": "1"})
    assert config_delta(None, same) == []
    assert config_delta(same, same) == []
