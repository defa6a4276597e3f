pragma circom 2.1.0;

// djmesh listen proof: "I know the secrets of a commitment in the battle's Merkle tree of paid listens, and this
// is my nullifier for this scope". Public inputs, in this order: root, nullifier, scope, signalHash.
//   commitment = Poseidon(nullifierKey, trapdoor)   (registered on-chain when the listen unit was paid)
//   nullifier  = Poseidon(nullifierKey, scope)      (scope = battle and action, computed by the contract)
//   signalHash = keccak(vote choice or reward recipient, relayer) >> 8, bound so a relayer cannot alter it.

include "poseidon.circom";

template ListenProof(DEPTH) {
    signal input root;
    signal input nullifier;
    signal input scope;
    signal input signalHash;

    signal input nullifierKey;
    signal input trapdoor;
    signal input pathElements[DEPTH];
    signal input pathIndices[DEPTH];  // 1 where the running node is the right child

    component commitment = PoseidonPair();
    commitment.in[0] <== nullifierKey;
    commitment.in[1] <== trapdoor;

    component level[DEPTH];
    signal node[DEPTH + 1];
    signal left[DEPTH];
    node[0] <== commitment.out;
    for (var i = 0; i < DEPTH; i++) {
        pathIndices[i] * (1 - pathIndices[i]) === 0;
        left[i] <== node[i] + pathIndices[i] * (pathElements[i] - node[i]);
        level[i] = PoseidonPair();
        level[i].in[0] <== left[i];
        level[i].in[1] <== node[i] + pathElements[i] - left[i];
        node[i + 1] <== level[i].out;
    }
    root === node[DEPTH];

    component nullifierHash = PoseidonPair();
    nullifierHash.in[0] <== nullifierKey;
    nullifierHash.in[1] <== scope;
    nullifier === nullifierHash.out;

    // A quadratic constraint on the signal so it stays in the constraint system under any optimisation.
    signal signalSquare;
    signalSquare <== signalHash * signalHash;
}

component main {public [root, nullifier, scope, signalHash]} = ListenProof(16);
