"""placeholder"""
async def answer(ctx, state):
    ctx.say("analytics")
    return {}
