"""Writes a C++ source that defines balancer::dashboard_page() as the bytes of the page
(meson runs it at build time: the dashboard is compiled into lbd)."""
import sys

source, output = sys.argv[1], sys.argv[2]
with open(source, "rb") as f:
    data = f.read()
with open(output, "w") as out:
    out.write("// Generated from src/balancer/dashboard/dashboard.html by embed.py.\n")
    out.write('#include "balancer/dashboard.hpp"\n\nnamespace balancer {\nnamespace {\n')
    out.write("constexpr unsigned char page[] = {\n")
    for i in range(0, len(data), 20):
        out.write("    " + ", ".join(str(b) for b in data[i:i + 20]) + ",\n")
    out.write("};\n} // namespace\n\n")
    out.write("std::string_view dashboard_page() {\n")
    out.write("    return {reinterpret_cast<const char*>(page), sizeof page};\n}\n\n")
    out.write("} // namespace balancer\n")
