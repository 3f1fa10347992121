module.exports = { RbxdClient: class {}, RbxdError: class {} };
