// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: standard output checked for errors, and text made safe for a
// terminal.

#if canImport(Glibc)
import Glibc
#endif

/// Writes to standard error, unbuffered.
func standardError(_ text: String) {
    var text = text
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Standard output, buffered, for the report. nonisolated(unsafe): the tool
/// writes it from its main thread only.
nonisolated(unsafe) private let reportStream: UnsafeMutablePointer<FILE> = fdopen(1, "w")

/// Writes a line to standard output (buffered; `finishOutput` checks it).
func output(_ line: String) {
    var line = line + "\n"
    line.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, reportStream) }
}

/// Flushes standard output and stops with a message and status 1 if it
/// could not be written (a full disk, a closed descriptor); a reader that
/// went away (EPIPE) ends the program quietly, as `head` expects.
func finishOutput() {
    if fflush(reportStream) == 0 && ferror(reportStream) == 0 { return }
    let e = errno
    if e == EPIPE { exit(0) }
    standardError("memtable: cannot write the report: \(String(cString: strerror(e)))\n")
    exit(1)
}

/// `text` with every control character (C0, DEL, C1) and backslash escaped
/// (`\x1b`, `\\`), so that a command or file name cannot drive the terminal.
func visible(_ text: String) -> String {
    var out = ""
    for u in text.unicodeScalars {
        if u == "\\" {
            out += "\\\\"
        } else if u.value < 0x20 || (0x7f...0x9f).contains(u.value) {
            out += "\\x" + (u.value < 16 ? "0" : "") + String(u.value, radix: 16)
        } else {
            out.unicodeScalars.append(u)
        }
    }
    return out
}

/// `value` with `digits` digits after the point, rounded half away from
/// zero (`String(format: "%.2f")` without Foundation).
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 1e18 else { return String(value) }
    let n = UInt64(scaled), unit = UInt64(scale)
    var fraction = String(n % unit)
    fraction = String(repeating: "0", count: digits - fraction.count) + fraction
    return (value < 0 && n != 0 ? "-" : "") + String(n / unit) + (digits > 0 ? "." + fraction : "")
}
