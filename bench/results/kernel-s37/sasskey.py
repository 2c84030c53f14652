# Concatenated SASS of a folder's cubins, ordered by their first kernel name, addresses dropped.
import glob, os, re, subprocess, sys
out = []
for f in glob.glob(sys.argv[1] + "/*.cubin"):
    s = subprocess.run([os.environ.get("NVDISASM", "nvdisasm"), "-c", f], capture_output=True, text=True).stdout
    m = re.search(r"\.text\.([A-Za-z_0-9]+)", s)
    lines = [re.sub(r"/\*[0-9a-f]*\*/", "", l).split(";")[0].strip() for l in s.splitlines() if re.match(r"\s+/\*[0-9a-f]{4}\*/", l)]
    out.append((m.group(1) if m else f, lines))
for name, lines in sorted(out):
    print("##", name)
    print("\n".join(lines))
