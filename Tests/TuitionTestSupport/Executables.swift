import Foundation

/// The path of `name` on PATH, or a failure naming the Debian package and `tools/test`, which installs it: a test that
/// needs an outside program fails without it rather than skipping.
public func requireExecutable(_ name: String, debianPackage: String) throws -> URL {
    let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    for directory in directories {
        let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    throw MissingExecutable(name: name, debianPackage: debianPackage)
}

public struct MissingExecutable: Error, CustomStringConvertible {
    public let name: String
    public let debianPackage: String
    public var description: String { "\(name) is not installed: run tools/test, which installs it (Debian package \(debianPackage))" }
}

/// Runs a program to its end and returns its exit status, standard output and standard error.
public func runExecutable(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    // Standard error goes to a file, so a chatty program cannot fill a second pipe while we read the first.
    let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errorFile) }
    let errors = try FileHandle(forWritingTo: errorFile)
    let output = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try errors.close()
    let errorText = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
    return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), errorText)
}

/// xmlsec1, the independent XML Signature implementation the interoperability tests check contracts with.
public func requireXmlsec1() throws -> URL { try requireExecutable("xmlsec1", debianPackage: "xmlsec1") }

/// `runExecutable` with standard output and standard error together, for tests that show them only on a failure.
public func runTool(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let result = try runExecutable(executable, arguments)
    return (result.status, result.output + result.errors)
}
