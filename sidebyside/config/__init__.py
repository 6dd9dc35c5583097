"""Service configuration carried from the old release to the new one.

ini        lossless oslo.config INI documents (parse, edit, render the same bytes)
metadata   option metadata from `oslo-config-generator --format yaml`; service specs
rules      curated translation rules, data files per release transition (rules/*.yaml)
translate  old file + metadata (+ rules, host map) -> new file + per-setting report
collect    config files, drop-ins, key repositories, TLS files -> manifest; write back
validate   `oslo-config-validator` against the new release's metadata
migrate    the prepare step: collect, translate, write, validate, verify
"""
