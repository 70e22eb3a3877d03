import Foundation

#if canImport(Glibc)
    import Glibc
#endif

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
///
/// Spawned with `posix_spawn` and reaped with `waitpid` on its own pid, not with Foundation's `Process`: on Linux,
/// `Process.waitUntilExit` waits for a run loop to hear of the exit, which under a loaded parallel suite can park a
/// thread of Swift's cooperative pool forever for a program that has already ended.
public func runExecutable(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
    // Standard error goes to a file, so a chatty program cannot fill a second pipe while we read the first.
    let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: errorFile) }
    var output: [Int32] = [0, 0]
    // Close-on-exec from the start: a program another test spawns meanwhile must not inherit the write end, or this
    // read would wait for that program's end (a long-lived one, such as Chromium, for as long as it lives).
    guard closeOnExecPipe(&output) else { throw SpawnFailure(description: "pipe failed: errno \(errno)") }
    let (child, spawned) = spawn(executable, argv: [executable.path] + arguments) { actions in
        posix_spawn_file_actions_addopen(actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(actions, output[1], 1)
        posix_spawn_file_actions_addopen(actions, 2, errorFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    }
    close(output[1])
    guard spawned == 0 else {
        close(output[0])
        throw SpawnFailure(description: "could not start \(executable.path): error \(spawned)")
    }
    let outputBytes = readToEnd(output[0])
    close(output[0])
    let status = try exitStatus(of: child)
    let errorText = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
    return (status, String(decoding: outputBytes, as: UTF8.self), errorText)
}

/// Starts `executable` with `argv` (its name first) and this process's environment, its descriptors arranged by
/// `fileActions`; returns the child's pid and `posix_spawn`'s result (0 when it started).
func spawn(
    _ executable: URL, argv: [String], fileActions: (UnsafeMutablePointer<posix_spawn_file_actions_t>) -> Void
) -> (pid: pid_t, error: Int32) {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    fileActions(&actions)
    let arguments = argv.map { strdup($0) } + [nil]
    let environment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (arguments + environment).forEach { free($0) } }
    var child: pid_t = 0
    let error = posix_spawn(&child, executable.path, &actions, nil, arguments, environment)
    return (child, error)
}

/// `pipe2(fds, O_CLOEXEC)`: both ends close-on-exec atomically, so no program spawned by another thread in between
/// inherits one. Glibc's module leaves `pipe2` (a GNU extension) out, hence the declaration.
func closeOnExecPipe(_ descriptors: inout [Int32]) -> Bool {
    descriptors.withUnsafeMutableBufferPointer { pipe2($0.baseAddress!, O_CLOEXEC) } == 0
}

@_silgen_name("pipe2")
private func pipe2(_ descriptors: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

public struct SpawnFailure: Error, CustomStringConvertible {
    public let description: String
}

private func readToEnd(_ descriptor: Int32) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = read(descriptor, &chunk, chunk.count)
        if count > 0 {
            bytes.append(contentsOf: chunk[0..<count])
        } else if count == 0 || errno != EINTR {
            return bytes
        }
    }
}

/// Waits for `child` and returns its exit code, or 128 plus the signal that ended it (as a shell reports it).
private func exitStatus(of child: pid_t) throws -> Int32 {
    var status: Int32 = 0
    while waitpid(child, &status, 0) == -1 {
        guard errno == EINTR else { throw SpawnFailure(description: "waitpid failed: errno \(errno)") }
    }
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}

/// xmlsec1, the independent XML Signature implementation the interoperability tests check contracts with.
public func requireXmlsec1() throws -> URL { try requireExecutable("xmlsec1", debianPackage: "xmlsec1") }

/// `runExecutable` with standard output and standard error together, for tests that show them only on a failure.
public func runTool(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let result = try runExecutable(executable, arguments)
    return (result.status, result.output + result.errors)
}
