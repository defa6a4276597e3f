# pragma version ~=0.4.3
"""
@notice Test-only: acts as a DJ, staker, listener or payee by forwarding calldata to `target`, and
        re-enters `target` with `reentry` calldata whenever `target` sends it ETH (or refuses the ETH).
"""

target: public(address)
reentry: public(Bytes[1024])
refuse: public(bool)
attempts: public(uint256)
succeeded: public(uint256)


@deploy
def __init__(target: address):
    self.target = target


@external
@payable
def forward(data: Bytes[2048]):
    raw_call(self.target, data, value=msg.value)


@external
def set_reentry(data: Bytes[1024]):
    self.reentry = data


@external
def set_refuse(refuse: bool):
    self.refuse = refuse


@external
@payable
def __default__():
    assert not self.refuse, "attacker refuses ETH"
    if msg.sender == self.target and len(self.reentry) > 0 and self.attempts == 0:
        self.attempts += 1
        if raw_call(self.target, self.reentry, revert_on_failure=False):
            self.succeeded += 1
