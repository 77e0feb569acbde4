#!/usr/bin/env python3
"""Runs Doxygen, then fails when a public enumerator has no documentation.

Doxygen's WARN_IF_UNDOCUMENTED covers classes, functions, variables and
typedefs but not the values of an enum, which are public names too. After
Doxygen has run (whether its own warnings failed it or not, so that one run
lists every undocumented name), this reads the XML it made beside the HTML
and reports each undocumented enumerator of a public or protected enum as
`file:line: error: ...`, like Doxygen's own warnings. Exits non-zero when
Doxygen failed or an enumerator is undocumented.

Usage: check_enumerators.py <doxygen> <Doxyfile> <doxygen xml dir> <source dir>
"""
import glob
import os
import subprocess
import sys
import xml.etree.ElementTree as ET


def documented(element):
    for tag in ("briefdescription", "detaileddescription"):
        part = element.find(tag)
        if part is not None and "".join(part.itertext()).strip():
            return True
    return False


def main():
    doxygen, doxyfile, xml_dir, source_dir = sys.argv[1:5]
    doxygen_failed = subprocess.call([doxygen, doxyfile]) != 0
    found = set()
    for path in sorted(glob.glob(os.path.join(xml_dir, "*.xml"))):
        root = ET.parse(path).getroot()
        for enum in root.iter("memberdef"):
            if enum.get("kind") != "enum" or enum.get("prot") == "private":
                continue
            location = enum.find("location")
            file = os.path.relpath(location.get("file"), source_dir)
            name = enum.findtext("qualifiedname") or enum.findtext("name")
            for value in enum.findall("enumvalue"):
                if not documented(value):
                    found.add((file, int(location.get("line")), name, value.findtext("name")))
    for file, line, name, value in sorted(found):
        print(f"{file}:{line}: error: Enumerator {value} of {name} is not documented.")
    return 1 if found or doxygen_failed else 0


if __name__ == "__main__":
    sys.exit(main())
