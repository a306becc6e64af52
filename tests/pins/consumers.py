"""Reads rendered pin configs the way their real consumers do, and prints
what each holds, one JSON line per file (tests/pins and pins/tests run it).

- .xml   (Android network_security_config.xml): expat, the parser aapt2
         uses; any well-formedness error is reported.
- .plist (iOS Info.plist fragment): plistlib, strict (FMT_XML).
- .json: json with duplicate members and NaN/Infinity refused.

usage: python3 consumers.py FILE...
"""
import json
import plistlib
import sys
import xml.parsers.expat


def android(data):
    domains = []
    stack = []
    text = []

    def start(name, attrs):
        stack.append(name)
        text.clear()
        if name == "domain-config":
            domains.append({"name": None, "sub": None, "expiration": None,
                            "pinset": False, "pins": [], "digests": []})
        elif name == "domain":
            domains[-1]["sub"] = attrs.get("includeSubdomains")
        elif name == "pin-set":
            domains[-1]["pinset"] = True
            domains[-1]["expiration"] = attrs.get("expiration")
        elif name == "pin":
            domains[-1]["digests"].append(attrs.get("digest"))

    def end(name):
        stack.pop()
        if name == "domain":
            domains[-1]["name"] = "".join(text)
        elif name == "pin":
            domains[-1]["pins"].append("".join(text))
        text.clear()

    p = xml.parsers.expat.ParserCreate()
    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = text.append
    p.Parse(data, True)
    return {"domains": domains}


def ios(data):
    root = plistlib.loads(data, fmt=plistlib.FMT_XML)
    out = {}
    for name, d in root["NSAppTransportSecurity"]["NSPinnedDomains"].items():
        ids = lambda key: [i["SPKI-SHA256-BASE64"] for i in d[key]] if key in d else None
        out[name] = {"sub": d["NSIncludesSubdomains"],
                     "leaf": ids("NSPinnedLeafIdentities"),
                     "ca": ids("NSPinnedCAIdentities")}
    return {"domains": out}


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate member")
    return dict(pairs)


def reject_constant(name):
    raise ValueError("not JSON: " + name)


def strict_json(data):
    return json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates,
                      parse_constant=reject_constant)


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        data = f.read()
    try:
        if path.endswith(".xml"):
            held = android(data)
        elif path.endswith(".plist"):
            held = ios(data)
        else:
            held = strict_json(data)
        print(json.dumps({"file": path, "ok": True, "held": held}))
    except Exception as e:  # every failure is the finding
        print(json.dumps({"file": path, "ok": False, "error": "%s: %s" % (type(e).__name__, e)}))
