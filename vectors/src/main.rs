//! Writes `docs/vectors/protocol-v1.json`.

fn main() -> anyhow::Result<()> {
    let path = tandem_vectors::vectors_path();
    std::fs::write(&path, tandem_vectors::render()?)?;
    println!("wrote {}", path.display());
    Ok(())
}
