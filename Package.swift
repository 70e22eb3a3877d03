// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "TuitionGuard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tuitionguard", targets: ["tuitionguard"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // Already there through Hummingbird and PostgresNIO; named for its event loops' timers (`withDeadline`).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Dashboard branch (issue #6): /metrics, server-rendered pages.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        .target(name: "TuitionCore"),
        // Issue #14: the HTTP API's request and response bodies, plain Codable values shared by storage, the use cases,
        // the API, the command line and the tests (isowords' SharedModels).
        .target(name: "TuitionWire", dependencies: ["TuitionCore"]),
        .systemLibrary(name: "CLibXML2", path: "Sources/CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "ContractKit", dependencies: ["CLibXML2", "COpenSSL"]),
        .target(name: "EvidenceLog", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // QR codes of public pages: libqrencode for the symbol, libpng's simplified API for the image.
        .systemLibrary(name: "CQREncode", path: "Sources/CQREncode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        .systemLibrary(name: "CLibPNG", path: "Sources/CLibPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .target(name: "QRImage", dependencies: ["CQREncode", "CLibPNG"]),
        .target(
            name: "TuitionStore",
            dependencies: [
                "TuitionCore",
                "TuitionWire",
                "EvidenceLog",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // Issue #13: the pool's circuit-breaker error is a 503, not a 500.
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Issue #14: the use cases between the API and storage; each opens its transaction, asks the core and
        // ContractKit, and writes through the store.
        .target(name: "TuitionUseCases", dependencies: ["TuitionCore", "TuitionWire", "TuitionStore", "EvidenceLog", "ContractKit"]),
        .target(
            name: "TuitionAPI",
            dependencies: [
                "TuitionCore",
                "TuitionWire",
                "TuitionStore",
                "TuitionUseCases",
                "EvidenceLog",
                "ContractKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "QRImage",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        .executableTarget(
            name: "tuitionguard",
            dependencies: [
                "TuitionCore",
                "TuitionWire",
                "TuitionStore",
                "TuitionUseCases",
                "TuitionAPI",
                "EvidenceLog",
                "ContractKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Shared by the test targets: a fresh migrated database per suite, a settable clock, sample parties.
        .target(
            name: "TuitionTestSupport",
            dependencies: [
                "TuitionCore", "TuitionWire", "TuitionStore", "TuitionUseCases", "ContractKit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/TuitionTestSupport"
        ),
        .testTarget(name: "TuitionCoreTests", dependencies: ["TuitionCore"]),
        .testTarget(name: "TuitionWireTests", dependencies: ["TuitionCore", "TuitionWire"]),
        .testTarget(name: "EvidenceLogTests", dependencies: ["EvidenceLog"]),
        .testTarget(name: "ContractKitTests", dependencies: ["ContractKit", "TuitionTestSupport"]),
        .testTarget(
            name: "TuitionStoreTests",
            dependencies: [
                "TuitionCore", "TuitionWire", "TuitionStore", "TuitionTestSupport", "EvidenceLog", "ContractKit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "TuitionUseCasesTests",
            dependencies: [
                "TuitionCore", "TuitionWire", "TuitionStore", "TuitionUseCases", "TuitionTestSupport", "EvidenceLog", "ContractKit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "TuitionAPITests",
            dependencies: [
                "TuitionCore", "TuitionWire", "TuitionStore", "TuitionUseCases", "TuitionAPI", "TuitionTestSupport", "EvidenceLog",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
            ]
        ),
        .testTarget(name: "QRImageTests", dependencies: ["QRImage", "TuitionTestSupport"]),
        .testTarget(
            name: "tuitionguardTests",
            dependencies: ["tuitionguard", "TuitionWire", "TuitionStore", "TuitionTestSupport", "EvidenceLog", "ContractKit"]),
    ]
)
