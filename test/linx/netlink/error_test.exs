defmodule Linx.Netlink.ErrorTest do
  use ExUnit.Case, async: true

  alias Linx.Netlink.Error

  doctest Error
  doctest Linx.Errno

  test "errno numbers and atoms map both ways through the generated table" do
    assert %Error{errno: :enoent, code: 2} = Error.new(2)
    assert %Error{errno: :enoent, code: 2} = Error.new(-2)
    assert %Error{errno: :eopnotsupp, code: 95} = Error.new(:eopnotsupp)
    assert %Error{errno: :unknown, code: 4242} = Error.new(4242)
    assert %Error{errno: :enodev, message: "x"} = Error.from_errno(19, "x")
  end

  test "messages read like the kernel's plus context, and errors can be raised" do
    assert Exception.message(Error.new(:enodev)) == "netlink: ENODEV (19) No such device"

    assert Exception.message(Error.new(:eperm, operation: :setns, object: {:pid, 1})) ==
             "netlink setns {:pid, 1}: EPERM (1) Operation not permitted"

    assert Exception.message(
             Error.new(:eopnotsupp, message: "Unknown device type", operation: :create_link)
           ) ==
             "netlink create_link: EOPNOTSUPP (95) Unknown device type"

    assert_raise Error, ~r/ENODEV/, fn -> raise Error.new(:enodev) end
  end
end
