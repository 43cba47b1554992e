// SPDX-License-Identifier: MIT
// Small stand-ins for Livepeer's Controller, BondingManager and ServiceRegistry, written for naap-sla's tests
// and demo. Every function discovery calls has the same name, argument types and return types as in Livepeer's
// contracts, so the 4-byte selectors and the ABI encoding match the real ones on Arbitrum One. Storage layout,
// rounds, bonding and rewards are not modelled; the owner sets the pool directly through the test-only setters
// at the end of each contract.
pragma solidity 0.8.28;

contract Controller {
    struct ContractInfo {
        address contractAddress;
        bytes20 gitCommitHash;
    }

    address public owner;
    mapping(bytes32 => ContractInfo) private registry;

    event SetContractInfo(bytes32 id, address contractAddress, bytes20 gitCommitHash);

    constructor() {
        owner = msg.sender;
    }

    function setContractInfo(bytes32 _id, address _contractAddress, bytes20 _gitCommitHash) external {
        require(msg.sender == owner, "caller must be owner");
        registry[_id] = ContractInfo(_contractAddress, _gitCommitHash);
        emit SetContractInfo(_id, _contractAddress, _gitCommitHash);
    }

    function getContractInfo(bytes32 _id) public view returns (address, bytes20) {
        return (registry[_id].contractAddress, registry[_id].gitCommitHash);
    }

    function getContract(bytes32 _id) public view returns (address) {
        return registry[_id].contractAddress;
    }
}

contract BondingManager {
    // The pool is a doubly linked list sorted by stake, highest first, like Livepeer's SortedDoublyLL.
    struct Node {
        uint256 stake;
        address next;
        address prev;
        bool inPool;
        bool active;
    }

    address public owner;
    mapping(address => Node) private nodes;
    address private head;
    address private tail;
    uint256 private size;

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        require(msg.sender == owner, "caller must be owner");
        _;
    }

    // ---- the read interface of Livepeer's BondingManager -------------------------------------------------

    function getTranscoderPoolSize() public view returns (uint256) {
        return size;
    }

    function getFirstTranscoderInPool() public view returns (address) {
        return head;
    }

    function getNextTranscoderInPool(address _transcoder) public view returns (address) {
        return nodes[_transcoder].next;
    }

    function transcoderTotalStake(address _transcoder) public view returns (uint256) {
        return nodes[_transcoder].stake;
    }

    function isActiveTranscoder(address _transcoder) public view returns (bool) {
        return nodes[_transcoder].inPool && nodes[_transcoder].active;
    }

    function isRegisteredTranscoder(address _transcoder) public view returns (bool) {
        return nodes[_transcoder].inPool;
    }

    // ---- test-only setters -------------------------------------------------------------------------------

    /// Adds or updates transcoders. Inserting in descending stake order costs O(1) each (search from the tail).
    function setTranscoders(address[] calldata _ts, uint256[] calldata _stakes, bool[] calldata _active) external onlyOwner {
        require(_ts.length == _stakes.length && _ts.length == _active.length, "length mismatch");
        for (uint256 i = 0; i < _ts.length; i++) {
            _remove(_ts[i]);
            _insert(_ts[i], _stakes[i], _active[i]);
        }
    }

    function removeTranscoder(address _t) external onlyOwner {
        _remove(_t);
    }

    /// Points a node's next link anywhere, to build inconsistent pools (cycles, dangling links) in tests.
    function setNextUnchecked(address _t, address _next) external onlyOwner {
        nodes[_t].next = _next;
    }

    function _insert(address _t, uint256 _stake, bool _active) private {
        require(_t != address(0), "zero address");
        address after_ = tail;
        while (after_ != address(0) && nodes[after_].stake < _stake) {
            after_ = nodes[after_].prev;
        }
        Node storage n = nodes[_t];
        n.stake = _stake;
        n.active = _active;
        n.inPool = true;
        n.prev = after_;
        if (after_ == address(0)) {
            n.next = head;
            if (head != address(0)) nodes[head].prev = _t;
            head = _t;
        } else {
            n.next = nodes[after_].next;
            if (n.next != address(0)) nodes[n.next].prev = _t;
            nodes[after_].next = _t;
        }
        if (n.next == address(0)) tail = _t;
        size += 1;
    }

    function _remove(address _t) private {
        Node storage n = nodes[_t];
        if (!n.inPool) return;
        if (n.prev == address(0)) head = n.next;
        else nodes[n.prev].next = n.next;
        if (n.next == address(0)) tail = n.prev;
        else nodes[n.next].prev = n.prev;
        delete nodes[_t];
        size -= 1;
    }
}

contract ServiceRegistry {
    struct Record {
        string serviceURI;
    }

    address public owner;
    mapping(address => Record) private records;

    event ServiceURIUpdate(address indexed addr, string serviceURI);

    constructor() {
        owner = msg.sender;
    }

    // ---- Livepeer's interface ----------------------------------------------------------------------------

    function setServiceURI(string calldata _serviceURI) external {
        records[msg.sender].serviceURI = _serviceURI;
        emit ServiceURIUpdate(msg.sender, _serviceURI);
    }

    function getServiceURI(address _addr) public view returns (string memory) {
        return records[_addr].serviceURI;
    }

    // ---- test-only setter: raw bytes, so tests can store URIs that are not valid UTF-8 -------------------

    function setServiceURIsFor(address[] calldata _addrs, bytes[] calldata _uris) external {
        require(msg.sender == owner, "caller must be owner");
        require(_addrs.length == _uris.length, "length mismatch");
        for (uint256 i = 0; i < _addrs.length; i++) {
            records[_addrs[i]].serviceURI = string(_uris[i]);
            emit ServiceURIUpdate(_addrs[i], string(_uris[i]));
        }
    }
}
