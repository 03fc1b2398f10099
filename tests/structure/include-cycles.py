#!/usr/bin/env python3
"""Fail when the files of a folder include each other in a circle.

A file foo.c and its header foo.h are one module "foo"; foo needs bar
when foo.c or foo.h includes "bar.h" and bar.h is in the same folder.
The module graph must have no cycle: then every file can be read, and
tested, with only the files below it.  Prints the graph (module: what it
needs) and every cycle found; exits 1 if there is one.

Usage: include-cycles.py DIR...
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)


def module_graph(folder):
    files = [f for f in os.listdir(folder) if f.endswith(('.c', '.h'))]
    modules = {os.path.splitext(f)[0] for f in files}
    graph = {m: set() for m in modules}
    for f in files:
        m = os.path.splitext(f)[0]
        with open(os.path.join(folder, f), encoding='utf-8') as fp:
            for dep in INCLUDE.findall(fp.read()):
                if dep in modules and dep != m:
                    graph[m].add(dep)
    return graph


def cycles(graph):
    """Every strongly connected component of more than one module."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main(folders):
    status = 0
    for folder in folders:
        graph = module_graph(folder)
        print(f'{folder}:')
        for m in sorted(graph):
            print(f'  {m}: {" ".join(sorted(graph[m])) or "-"}')
        for c in cycles(graph):
            print(f'  CYCLE: {" <-> ".join(c)}')
            status = 1
    return status


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
