// Compiles contracts/src/TandemRollup.sol with the solc in .tools/ through the standard-JSON
// interface and writes the artifact to the file given as the only argument.
// Usage: node contracts/compile.js OUT.json    (contracts/build.sh calls it)
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const sourceName = 'contracts/src/TandemRollup.sol';
const contractName = 'TandemRollup';
// Reproducible bytecode: no metadata hash or CBOR trailer, so the code depends only on the
// source, the compiler and these settings.
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none', appendCBOR: false },
};

// The ABI's names are part of the interface clients are written against: the constructor's
// `sequencers` and `genesisStateRoot` and `batchAt`'s `lastHeight` are named like the views
// that return the same values. Solidity warns about these three names (codes 8760 and 2519);
// every other warning fails the build.
const expectedShadowed = new Set(['sequencers', 'genesisStateRoot', 'lastHeight']);

function expectedShadowing(diagnostic, source) {
  if (diagnostic.errorCode !== '8760' && diagnostic.errorCode !== '2519') return false;
  const location = diagnostic.sourceLocation;
  if (!location || location.file !== sourceName) return false;
  const declaration = source.subarray(location.start, location.end).toString('utf8');
  const name = declaration.trim().split(/\s+/).pop();
  return expectedShadowed.has(name);
}

function main() {
  if (process.argv.length !== 3) {
    console.error('usage: node contracts/compile.js OUT.json');
    process.exit(2);
  }
  const out = process.argv[2];
  const solc = require(path.join(root, '.tools', 'node_modules', 'solc'));
  const source = fs.readFileSync(path.join(root, sourceName));

  const input = {
    language: 'Solidity',
    sources: { [sourceName]: { content: source.toString('utf8') } },
    settings: {
      ...settings,
      outputSelection: {
        [sourceName]: { [contractName]: ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
      },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));

  let failed = false;
  for (const diagnostic of output.errors || []) {
    if (expectedShadowing(diagnostic, source)) continue;
    console.error(diagnostic.formattedMessage.trimEnd());
    if (diagnostic.severity !== 'info') failed = true;
  }
  if (failed) {
    console.error(`compile: ${sourceName} has errors or warnings`);
    process.exit(1);
  }

  const compiled = output.contracts[sourceName][contractName];
  const artifact = {
    contractName,
    compiler: solc.version(),
    settings,
    sourceSha256: crypto.createHash('sha256').update(source).digest('hex'),
    abi: compiled.abi,
    bytecode: '0x' + compiled.evm.bytecode.object,
    deployedBytecode: '0x' + compiled.evm.deployedBytecode.object,
  };
  fs.writeFileSync(out, JSON.stringify(artifact, null, 2) + '\n');
}

main();
