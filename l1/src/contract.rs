//! Bindings of the rollup contract, generated from `contracts/artifacts/TandemRollup.json`
//! (ABI and creation bytecode). A test keeps that artifact equal to the compiled source.

#![allow(missing_docs)] // generated code

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TandemRollup,
    "../contracts/artifacts/TandemRollup.json"
);
