"""Reading YAML safely: a file (or a ``--set`` value) as plain data, its work bounded.

``read_yaml`` reads a configuration file: UTF-8 text holding one mapping, with a key given twice
in one mapping refused (PyYAML keeps the last silently). ``load_bounded`` builds any YAML text
only after measuring it: more than ``MAX_YAML_NODES`` values once its aliases are expanded (an
"alias bomb"), more than ``MAX_YAML_DEPTH`` levels of nesting, or a value that contains itself
is refused in one line before a single Python object is made. Every failure is a one-line
``UserError`` naming the file, and the line and column where YAML knows them.

This module uses only ``srgan.core.errors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from srgan.core.errors import UserError

#: The most values (scalars, lists, mappings) a YAML document may stand for once its aliases
#: are expanded, and the deepest nesting it may have (params.yaml: about 300 values, 5 levels).
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 64


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    lines: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = lines.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if first != key_node.start_mark.line + 1:
            raise yaml.MarkedYAMLError(
                problem=f"the key {key!r} is given twice in one mapping (lines {first} and "
                f"{key_node.start_mark.line + 1})",
            )
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing, undecodable, malformed or oversized file (a key given
    twice, an alias bomb, deep nesting included) is a one-line ``UserError`` naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"config file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8"
        ) from None
    try:
        data = load_bounded(text, _UniqueKeyLoader)  # a SafeLoader: plain data only
    except UnboundedYAML as exc:
        raise UserError(f"config file {path} {exc}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(
            f"config file {path} must hold a mapping of keys, not {type(data).__name__}"
        )
    return data


class UnboundedYAML(Exception):
    """YAML that stands for too much data, too deeply nested, or for itself (the message
    continues "config file X ...")."""


def load_bounded(text: str, loader_class: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """YAML text as data, measured before it is built: the nesting of the text is read from
    the parser's events (no recursion), then the node graph's size and depth with its aliases
    expanded (counted, not expanded: a graph of n nodes in O(n)). ``UnboundedYAML`` beyond
    ``MAX_YAML_NODES`` values or ``MAX_YAML_DEPTH`` levels, or for a value that contains
    itself; ``yaml.YAMLError`` for malformed text."""
    depth = 0
    for event in yaml.parse(text, Loader=loader_class):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                mark = event.start_mark
                raise UnboundedYAML(
                    f"is nested more than {MAX_YAML_DEPTH} levels deep (line {mark.line + 1}, "
                    f"column {mark.column + 1})"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size, deepest = _expanded_size(node)
        if size > MAX_YAML_NODES:
            raise UnboundedYAML(
                f"is too large once its aliases are expanded: {size} values, at most "
                f"{MAX_YAML_NODES} (an alias bomb?)"
            )
        if deepest > MAX_YAML_DEPTH:
            raise UnboundedYAML(
                f"is nested more than {MAX_YAML_DEPTH} levels deep once its aliases are expanded"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(values, levels) of the data the node graph ``root`` stands for, its aliases (shared
    nodes) counted at every place they occur. Depth-first with an explicit stack; a node met
    again on its own path is a value containing itself (``UnboundedYAML``)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = _child_nodes(node)
        if finished:
            size[key] = 1 + sum(size[id(child)] for child in children)
            depth[key] = 1 + max((depth[id(child)] for child in children), default=0)
            on_path.discard(key)
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                mark = child.start_mark
                raise UnboundedYAML(
                    f"holds a value that refers to itself through an alias (line "
                    f"{mark.line + 1}, column {mark.column + 1})"
                )
            if id(child) not in size:
                stack.append((child, False))
    return size[id(root)], depth[id(root)]


def _child_nodes(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong, and where when known."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(str(exc).split())
    mark = exc.problem_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{exc.problem}{where}"
