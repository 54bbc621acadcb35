"""dce: remove operations whose results no output depends on (model inputs always stay)."""
from sncc.ir import Module
from sncc.pass_manager import Pass, PassContext, register_pass


def eliminate_dead_code(m: Module) -> int:
    live = {id(v) for v in m.outputs}
    for op in reversed(m.ops):
        if id(op.result) in live or op.kind == "input":
            live.add(id(op.result))
            live.update(id(v) for v in op.operands)
    before = len(m.ops)
    m.ops = [op for op in m.ops if id(op.result) in live]
    return before - len(m.ops)


@register_pass
class DeadCodeElimination(Pass):
    name = "dce"
    summary = "remove operations that no output depends on"

    def run(self, m: Module, ctx: PassContext):
        ctx.reports[self.name] = {"removed": eliminate_dead_code(m)}
