# pragma version ~=0.4.3
"""
@title djmesh ListenChannel
@notice One-way payment channels from a listener to a DJ. The listener deposits once; while listening,
        their node signs cumulative EIP-712 vouchers Voucher(channelId, amount) to the DJ. Before the
        channel expires the DJ cashes the latest voucher (`claim` keeps the channel open, `close` ends it
        and returns the rest to the listener). After expiry only the listener can act: `expire` returns
        whatever was not claimed.
@dev Vouchers are cumulative: a voucher not above what was already paid is refused, so replaying an old
     voucher pays nothing. The domain (chain id, this contract) and the channel id stop replay elsewhere.
     A channel's storage is deleted when it ends (cheaper, and nothing can act on it again); channel ids
     are never reused, and the ChannelOpened / ChannelClosed events keep the history.
"""

HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168
MIN_TIMEOUT: constant(uint256) = 60
MAX_TIMEOUT: constant(uint256) = 31536000  # one year

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
VOUCHER_TYPEHASH: constant(bytes32) = keccak256("Voucher(uint256 channelId,uint256 amount)")


struct Signature:
    v: uint8
    r: bytes32
    s: bytes32


struct Channel:
    listener: address
    payee: address
    deposit: uint256
    paid: uint256
    expires_at: uint256


event ChannelOpened:
    channel_id: indexed(uint256)
    listener: indexed(address)
    payee: indexed(address)
    deposit: uint256
    expires_at: uint256


event ToppedUp:
    channel_id: indexed(uint256)
    deposit: uint256
    expires_at: uint256


event Claimed:
    channel_id: indexed(uint256)
    amount: uint256
    paid: uint256


event ChannelClosed:
    channel_id: indexed(uint256)
    paid: uint256
    refunded: uint256


event Owed:
    account: indexed(address)
    amount: uint256


DOMAIN_SEPARATOR: public(immutable(bytes32))

channels: public(HashMap[uint256, Channel])
channel_count: public(uint256)
owed: public(HashMap[address, uint256])


@deploy
def __init__():
    DOMAIN_SEPARATOR = keccak256(
        abi_encode(
            DOMAIN_TYPEHASH,
            keccak256("djmesh ListenChannel"),
            keccak256("1"),
            chain.id,
            self,
        )
    )


@external
@payable
@nonreentrant
def open(payee: address, timeout: uint256) -> uint256:
    """
    @notice Deposit msg.value for `payee`; the channel expires `timeout` seconds from now.
    @return The channel id (1, 2, ...).
    """
    assert msg.value > 0, "empty deposit"
    assert payee != empty(address) and payee != msg.sender, "payee must be another address"
    assert timeout >= MIN_TIMEOUT and timeout <= MAX_TIMEOUT, "timeout out of range"
    channel_id: uint256 = self.channel_count + 1
    self.channel_count = channel_id
    expires_at: uint256 = block.timestamp + timeout
    self.channels[channel_id] = Channel(
        listener=msg.sender, payee=payee, deposit=msg.value, paid=0, expires_at=expires_at
    )
    log ChannelOpened(
        channel_id=channel_id, listener=msg.sender, payee=payee, deposit=msg.value, expires_at=expires_at
    )
    return channel_id


@external
@payable
@nonreentrant
def top_up(channel_id: uint256, timeout: uint256):
    """
    @notice The listener adds msg.value and may push the expiry to `timeout` seconds from now.
    """
    c: Channel = self.channels[channel_id]
    assert c.listener != empty(address), "channel is not open"
    assert c.listener == msg.sender, "only the channel's listener tops it up"
    assert block.timestamp < c.expires_at, "channel expired"
    assert timeout <= MAX_TIMEOUT, "timeout out of range"
    expires_at: uint256 = max(c.expires_at, block.timestamp + timeout)
    self.channels[channel_id].deposit = c.deposit + msg.value
    self.channels[channel_id].expires_at = expires_at
    log ToppedUp(channel_id=channel_id, deposit=c.deposit + msg.value, expires_at=expires_at)


@view
@external
def voucher_digest(channel_id: uint256, amount: uint256) -> bytes32:
    """
    @notice The EIP-712 digest of Voucher(channelId, amount): what the listener signs.
    """
    return self._voucher_digest(channel_id, amount)


@view
@internal
def _voucher_digest(channel_id: uint256, amount: uint256) -> bytes32:
    struct_hash: bytes32 = keccak256(abi_encode(VOUCHER_TYPEHASH, channel_id, amount))
    return keccak256(concat(b"\x19\x01", DOMAIN_SEPARATOR, struct_hash))


@view
@internal
def _checked(channel_id: uint256, amount: uint256, sig: Signature) -> Channel:
    c: Channel = self.channels[channel_id]
    assert c.payee != empty(address), "channel is not open"
    assert c.payee == msg.sender, "only the channel's payee cashes vouchers"
    assert block.timestamp < c.expires_at, "channel expired"
    assert amount <= c.deposit, "voucher exceeds the deposit"
    assert convert(sig.s, uint256) <= HALF_N, "malleable signature"
    signer: address = ecrecover(self._voucher_digest(channel_id, amount), sig.v, sig.r, sig.s)
    assert signer != empty(address) and signer == c.listener, "voucher not signed by the listener"
    return c


@external
@nonreentrant
def claim(channel_id: uint256, amount: uint256, sig: Signature):
    """
    @notice The payee cashes a cumulative voucher and keeps the channel open.
    """
    c: Channel = self._checked(channel_id, amount, sig)
    assert amount > c.paid, "voucher not above what was already paid"
    self.channels[channel_id].paid = amount
    log Claimed(channel_id=channel_id, amount=amount - c.paid, paid=amount)
    raw_call(msg.sender, b"", value=amount - c.paid)


@external
@nonreentrant
def close(channel_id: uint256, amount: uint256, sig: Signature):
    """
    @notice The payee cashes its latest voucher and ends the channel; the rest goes to the listener.
    """
    c: Channel = self._checked(channel_id, amount, sig)
    assert amount >= c.paid, "voucher below what was already paid"
    self.channels[channel_id] = empty(Channel)
    log ChannelClosed(channel_id=channel_id, paid=amount, refunded=c.deposit - amount)
    if amount > c.paid:
        raw_call(msg.sender, b"", value=amount - c.paid)
    self._pay(c.listener, c.deposit - amount)


@external
@nonreentrant
def expire(channel_id: uint256):
    """
    @notice After expiry the listener takes back everything the payee did not claim.
    """
    c: Channel = self.channels[channel_id]
    assert c.listener != empty(address), "channel is not open"
    assert c.listener == msg.sender, "only the channel's listener reclaims it"
    assert block.timestamp >= c.expires_at, "channel has not expired yet"
    self.channels[channel_id] = empty(Channel)
    log ChannelClosed(channel_id=channel_id, paid=c.paid, refunded=c.deposit - c.paid)
    if c.deposit > c.paid:
        raw_call(msg.sender, b"", value=c.deposit - c.paid)


@external
@nonreentrant
def withdraw():
    """
    @notice Take a refund this contract could not push (the listener reverted at the time).
    """
    amount: uint256 = self.owed[msg.sender]
    assert amount > 0, "nothing owed"
    self.owed[msg.sender] = 0
    raw_call(msg.sender, b"", value=amount)


@internal
def _pay(recipient: address, amount: uint256):
    # A listener that refuses ETH must not stop the DJ from closing: the refund stays owed to it.
    if amount == 0:
        return
    if not raw_call(recipient, b"", value=amount, revert_on_failure=False):
        self.owed[recipient] += amount
        log Owed(account=recipient, amount=amount)
