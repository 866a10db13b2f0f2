//! Generates the `groupcache.v1` messages and service from `proto/` at the
//! workspace root. Cargo runs a build script only for the package whose
//! directory holds it, and the generated code must be compiled by the crate
//! that includes it, so this script lives beside `cache-grpc` rather than at
//! the workspace root. protoc comes from the `protoc-bin-vendored` crate: no
//! system install is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let proto = proto_root.join("groupcache/v1/groupcache.proto");
    println!("cargo:rerun-if-changed={}", proto.display());

    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // `bytes` fields become `bytes::Bytes`: a cached value reaches the wire
    // without a copy.
    config.bytes(["."]);
    // `prost::Name` (the full name of each message), for the codec's
    // messages about requests that do not decode.
    config.enable_type_names();
    tonic_prost_build::configure()
        // tonic-prost's codec, except that a request that does not decode
        // is INVALID_ARGUMENT (see src/codec.rs).
        .codec_path("crate::codec::ProtoCodec")
        .file_descriptor_set_path(out_dir.join("groupcache_descriptor.bin"))
        .compile_with_config(config, &[proto], &[proto_root])?;
    Ok(())
}
