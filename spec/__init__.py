"""The IR specification (ir.md) and grammar (sir.lark), installed as package data `sncc.spec`."""
