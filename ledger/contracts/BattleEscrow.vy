# pragma version ~=0.4.3
"""
@title djmesh BattleEscrow
@notice Prize pools for DJ battles. DJs and sponsors stake ETH on a battle; the pot goes to the winner
        once at least 2f+1 of the battle's 3f+1 committee members have signed (EIP-712) that a result
        bundle names that winner. With no valid result by the deadline, every staker takes their stake back.
        A battle may ask a seat bond: every committee member must have posted it before the DJs can fix
        the committee; it burns when the attested result names the member as forfeiting (no reveal,
        double signing, a bad or early reveal) or when anyone shows two different attestations it signed
        for the battle (equivocation), and is released at the deadline otherwise. Burned ETH stays in
        this contract with no way out (nobody, not the DJs or the reporter, gains from a forfeit).
@dev The committee is the list of EVM addresses both DJs agreed on (each DJ calls `agree_committee`
     with the same sorted list); only its hash is stored, and `payout` passes the list again. The chain
     checks signatures, membership, distinctness and the quorum; it cannot check that the result bundle
     itself is valid (the committee members do that off-chain before they sign).
"""

MAX_COMMITTEE: constant(uint256) = 31
# secp256k1 group order / 2: signatures with a higher s are the malleable twin and are refused
HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
RESULT_TYPEHASH: constant(bytes32) = keccak256(
    "Result(bytes32 battleId,address winner,bytes32 resultHash,address[] forfeits)"
)


struct Signature:
    v: uint8
    r: bytes32
    s: bytes32


struct Battle:
    dj_a: address
    dj_b: address
    deadline: uint256
    pot: uint256
    committee_hash: bytes32
    committee_size: uint256
    settled: bool
    seat_bond: uint256


# one attestation as equivocation evidence: what was signed (the forfeits list as its EIP-712 hash) and the signature
struct Claim:
    winner: address
    result_hash: bytes32
    forfeits_hash: bytes32
    signature: Signature


event Opened:
    battle_id: indexed(bytes32)
    dj_a: indexed(address)
    dj_b: indexed(address)
    deadline: uint256


event Staked:
    battle_id: indexed(bytes32)
    staker: indexed(address)
    amount: uint256


event CommitteeProposed:
    battle_id: indexed(bytes32)
    dj: indexed(address)
    committee_hash: bytes32


event CommitteeFixed:
    battle_id: indexed(bytes32)
    committee_hash: bytes32
    size: uint256


event Paid:
    battle_id: indexed(bytes32)
    winner: indexed(address)
    result_hash: bytes32
    amount: uint256


event Refunded:
    battle_id: indexed(bytes32)
    staker: indexed(address)
    amount: uint256


event Owed:
    account: indexed(address)
    amount: uint256


event Bonded:
    battle_id: indexed(bytes32)
    member: indexed(address)
    amount: uint256


event BondBurned:
    battle_id: indexed(bytes32)
    member: indexed(address)
    amount: uint256
    equivocation: bool


event BondReleased:
    battle_id: indexed(bytes32)
    member: indexed(address)
    amount: uint256


DOMAIN_SEPARATOR: public(immutable(bytes32))

battles: public(HashMap[bytes32, Battle])
stakes: public(HashMap[bytes32, HashMap[address, uint256]])
proposals: public(HashMap[bytes32, HashMap[address, bytes32]])
# payments a recipient refused (a contract that reverted); taken with `withdraw`
owed: public(HashMap[address, uint256])
# seat bonds held, by battle and member
bonds: public(HashMap[bytes32, HashMap[address, uint256]])
# forfeited bonds: held here for good
burned: public(uint256)


@deploy
def __init__():
    DOMAIN_SEPARATOR = keccak256(
        abi_encode(
            DOMAIN_TYPEHASH,
            keccak256("djmesh BattleEscrow"),
            keccak256("1"),
            chain.id,
            self,
        )
    )


@external
@payable
@nonreentrant
def open(battle_id: bytes32, opponent: address, deadline: uint256, seat_bond: uint256):
    """
    @notice Open a battle as DJ A (the challenger), staking msg.value (may be zero). Every committee
            member must post `seat_bond` wei (zero: no bond) before the committee can be fixed.
    """
    assert self.battles[battle_id].dj_a == empty(address), "battle already open"
    assert opponent != empty(address) and opponent != msg.sender, "opponent must be another address"
    assert deadline > block.timestamp, "deadline must be in the future"
    self.battles[battle_id] = Battle(
        dj_a=msg.sender,
        dj_b=opponent,
        deadline=deadline,
        pot=msg.value,
        committee_hash=empty(bytes32),
        committee_size=0,
        settled=False,
        seat_bond=seat_bond,
    )
    log Opened(battle_id=battle_id, dj_a=msg.sender, dj_b=opponent, deadline=deadline)
    if msg.value > 0:
        self.stakes[battle_id][msg.sender] = msg.value
        log Staked(battle_id=battle_id, staker=msg.sender, amount=msg.value)


@external
@payable
@nonreentrant
def stake(battle_id: bytes32):
    """
    @notice Add to the prize: the opponent DJ or any sponsor, until the deadline or the payout.
    """
    assert msg.value > 0, "nothing staked"
    assert self.battles[battle_id].dj_a != empty(address), "no such battle"
    assert not self.battles[battle_id].settled, "already paid out"
    assert block.timestamp < self.battles[battle_id].deadline, "past the deadline"
    self.battles[battle_id].pot += msg.value
    self.stakes[battle_id][msg.sender] += msg.value
    log Staked(battle_id=battle_id, staker=msg.sender, amount=msg.value)


@external
def agree_committee(battle_id: bytes32, committee: DynArray[address, MAX_COMMITTEE]):
    """
    @notice A DJ proposes the committee (EVM addresses in ascending order, no DJ among them). The
            committee is fixed, for good, when the other DJ has proposed the same list.
    """
    b: Battle = self.battles[battle_id]
    assert msg.sender == b.dj_a or msg.sender == b.dj_b, "only the battle's DJs agree on the committee"
    assert b.committee_size == 0, "committee already fixed"
    assert block.timestamp < b.deadline, "past the deadline"
    assert len(committee) > 0, "empty committee"
    previous: uint256 = 0
    for member: address in committee:
        assert convert(member, uint256) > previous, "committee must be ascending, distinct, non-zero"
        assert member != b.dj_a and member != b.dj_b, "a DJ cannot sit on the committee"
        assert b.seat_bond == 0 or self.bonds[battle_id][member] > 0, "a committee member posted no seat bond"
        previous = convert(member, uint256)
    committee_hash: bytes32 = keccak256(abi_encode(committee))
    self.proposals[battle_id][msg.sender] = committee_hash
    log CommitteeProposed(battle_id=battle_id, dj=msg.sender, committee_hash=committee_hash)
    other: address = b.dj_b if msg.sender == b.dj_a else b.dj_a
    if self.proposals[battle_id][other] == committee_hash:
        self.battles[battle_id].committee_hash = committee_hash
        self.battles[battle_id].committee_size = len(committee)
        log CommitteeFixed(battle_id=battle_id, committee_hash=committee_hash, size=len(committee))


@external
@payable
@nonreentrant
def post_bond(battle_id: bytes32):
    """
    @notice A viewer who may be drawn onto the committee posts the battle's seat bond (exactly), once,
            before the DJs fix the committee: the draw cannot be seen first, so every candidate pays.
    """
    b: Battle = self.battles[battle_id]
    assert b.dj_a != empty(address), "no such battle"
    assert b.seat_bond > 0, "this battle asks no seat bond"
    assert b.committee_size == 0, "committee already fixed"
    assert block.timestamp < b.deadline, "past the deadline"
    assert msg.sender != b.dj_a and msg.sender != b.dj_b, "a DJ cannot sit on the committee"
    assert msg.value == b.seat_bond, "the seat bond is exactly the battle's"
    assert self.bonds[battle_id][msg.sender] == 0, "seat bond already posted"
    self.bonds[battle_id][msg.sender] = msg.value
    log Bonded(battle_id=battle_id, member=msg.sender, amount=msg.value)


@external
@nonreentrant
def release_bond(battle_id: bytes32, committee: DynArray[address, MAX_COMMITTEE]):
    """
    @notice Take an unforfeited seat bond back: from the deadline on; before it, once the committee is
            fixed (pass it) and the caller is not on it.
    """
    b: Battle = self.battles[battle_id]
    amount: uint256 = self.bonds[battle_id][msg.sender]
    assert amount > 0, "no seat bond held"
    if block.timestamp < b.deadline:
        assert b.committee_size > 0, "seat bonds stay until the committee is fixed or the deadline"
        assert keccak256(abi_encode(committee)) == b.committee_hash, "not the agreed committee"
        assert msg.sender not in committee, "a member's seat bond stays until the deadline"
    self.bonds[battle_id][msg.sender] = 0
    log BondReleased(battle_id=battle_id, member=msg.sender, amount=amount)
    raw_call(msg.sender, b"", value=amount)


@external
@nonreentrant
def report_equivocation(battle_id: bytes32, member: address, first: Claim, second: Claim):
    """
    @notice Anyone: two attestations `member` signed for this battle that differ (winner, result hash or
            forfeits) burn its seat bond. An honest member signs one result per battle.
    """
    one: bytes32 = self._claim_digest(battle_id, first)
    two: bytes32 = self._claim_digest(battle_id, second)
    assert one != two, "the two attestations are the same"
    assert self._signer(one, first.signature) == member, "the first attestation is not the member's"
    assert self._signer(two, second.signature) == member, "the second attestation is not the member's"
    amount: uint256 = self.bonds[battle_id][member]
    assert amount > 0, "no seat bond held for this member"
    self._burn(battle_id, member, amount, True)


@view
@internal
def _claim_digest(battle_id: bytes32, claim: Claim) -> bytes32:
    return self._digest_of(battle_id, claim.winner, claim.result_hash, claim.forfeits_hash)


@pure
@internal
def _signer(digest: bytes32, sig: Signature) -> address:
    assert convert(sig.s, uint256) <= HALF_N, "malleable signature"
    signer: address = ecrecover(digest, sig.v, sig.r, sig.s)
    assert signer != empty(address), "invalid signature"
    return signer


@internal
def _burn(battle_id: bytes32, member: address, amount: uint256, equivocation: bool):
    self.bonds[battle_id][member] = 0
    self.burned += amount
    log BondBurned(battle_id=battle_id, member=member, amount=amount, equivocation=equivocation)


@pure
@internal
def _addresses_hash(members: DynArray[address, MAX_COMMITTEE]) -> bytes32:
    # EIP-712 address[]: keccak256 of the 32-byte words, i.e. abi_encode without its offset and length words
    return keccak256(slice(abi_encode(members), 64, 32 * len(members)))


@view
@external
def result_digest(
    battle_id: bytes32, winner: address, result_hash: bytes32, forfeits: DynArray[address, MAX_COMMITTEE]
) -> bytes32:
    """
    @notice The EIP-712 digest a committee member signs to attest a result.
    """
    return self._digest_of(battle_id, winner, result_hash, self._addresses_hash(forfeits))


@view
@internal
def _digest_of(battle_id: bytes32, winner: address, result_hash: bytes32, forfeits_hash: bytes32) -> bytes32:
    struct_hash: bytes32 = keccak256(abi_encode(RESULT_TYPEHASH, battle_id, winner, result_hash, forfeits_hash))
    return keccak256(concat(b"\x19\x01", DOMAIN_SEPARATOR, struct_hash))


@pure
@external
def quorum(committee_size: uint256) -> uint256:
    """
    @notice 2f+1 for a committee of 3f+1 (the protocol's formula: f = (n - 1) // 3).
    """
    return 2 * ((committee_size - 1) // 3) + 1


@external
@nonreentrant
def payout(
    battle_id: bytes32,
    winner: address,
    result_hash: bytes32,
    forfeits: DynArray[address, MAX_COMMITTEE],
    committee: DynArray[address, MAX_COMMITTEE],
    signatures: DynArray[Signature, MAX_COMMITTEE],
):
    """
    @notice Pay the pot to `winner`. Needs signatures from at least 2f+1 distinct committee members
            over Result(battleId, winner, resultHash, forfeits), ordered by signer address. Anyone may
            submit. The seat bonds of `forfeits` (committee members, ascending) burn.
    """
    b: Battle = self.battles[battle_id]
    assert b.dj_a != empty(address), "no such battle"
    assert not b.settled, "already paid out"
    assert block.timestamp < b.deadline, "past the deadline: only refunds now"
    assert b.committee_size > 0, "the DJs have not agreed on a committee"
    assert keccak256(abi_encode(committee)) == b.committee_hash, "not the agreed committee"
    assert winner == b.dj_a or winner == b.dj_b, "the winner must be one of the battle's DJs"
    digest: bytes32 = self._digest_of(battle_id, winner, result_hash, self._addresses_hash(forfeits))
    previous: uint256 = 0
    for sig: Signature in signatures:
        signer: address = self._signer(digest, sig)
        assert convert(signer, uint256) > previous, "signers must be distinct and in ascending order"
        assert signer in committee, "signer is not on the committee"
        previous = convert(signer, uint256)
    needed: uint256 = 2 * ((b.committee_size - 1) // 3) + 1
    assert len(signatures) >= needed, "fewer than 2f+1 committee signatures"
    self.battles[battle_id].settled = True
    self.battles[battle_id].pot = 0
    previous = 0
    for member: address in forfeits:
        assert convert(member, uint256) > previous, "forfeits must be ascending and distinct"
        assert member in committee, "a forfeit names someone not on the committee"
        previous = convert(member, uint256)
        held: uint256 = self.bonds[battle_id][member]
        if held > 0:
            self._burn(battle_id, member, held, False)
    log Paid(battle_id=battle_id, winner=winner, result_hash=result_hash, amount=b.pot)
    self._pay(winner, b.pot)


@external
@nonreentrant
def refund(battle_id: bytes32):
    """
    @notice After the deadline with no payout, a staker takes their own stake back.
    """
    b: Battle = self.battles[battle_id]
    assert b.dj_a != empty(address), "no such battle"
    assert not b.settled, "already paid out"
    assert block.timestamp >= b.deadline, "refunds open at the deadline"
    amount: uint256 = self.stakes[battle_id][msg.sender]
    assert amount > 0, "nothing to refund"
    self.stakes[battle_id][msg.sender] = 0
    self.battles[battle_id].pot -= amount
    log Refunded(battle_id=battle_id, staker=msg.sender, amount=amount)
    raw_call(msg.sender, b"", value=amount)


@view
@external
def djs_of(battle_id: bytes32) -> (address, address):
    """
    @notice The battle's two DJs (zero addresses when it is not open): ListenGate reads them here.
    """
    return self.battles[battle_id].dj_a, self.battles[battle_id].dj_b


@external
@nonreentrant
def withdraw():
    """
    @notice Take a payment this contract could not push (the recipient reverted at the time).
    """
    amount: uint256 = self.owed[msg.sender]
    assert amount > 0, "nothing owed"
    self.owed[msg.sender] = 0
    raw_call(msg.sender, b"", value=amount)


@internal
def _pay(recipient: address, amount: uint256):
    # A recipient that refuses ETH must not block the settlement: what it refused stays owed to it.
    if amount == 0:
        return
    if not raw_call(recipient, b"", value=amount, revert_on_failure=False):
        self.owed[recipient] += amount
        log Owed(account=recipient, amount=amount)
