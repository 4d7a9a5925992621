defmodule Linx.Netlink.MessageTest do
  use ExUnit.Case, async: true

  alias Linx.Netlink.{Attr, Message}

  doctest Message
  doctest Attr
  doctest Linx.Netlink.Constants

  test "golden nlmsghdr bytes" do
    msg = %Message{type: 18, flags: 0x301, seq: 0x01020304, pid: 7, payload: <<1, 2, 3>>}

    assert Message.encode(msg) ==
             <<19::native-32, 18::native-16, 0x301::native-16, 0x01020304::native-32,
               7::native-32, 1, 2, 3, 0>>
  end

  test "concatenated messages split back, tolerating an unpadded last message" do
    a = %Message{type: 16, payload: <<1>>}
    b = %Message{type: 3, flags: 2, seq: 9, payload: <<0::32>>}
    assert Message.decode(Message.encode(a) <> Message.encode(b)) == [a, b]
    unpadded = binary_part(Message.encode(a), 0, 17)
    assert {:ok, [^a]} = Message.decode_all(unpadded)
  end

  test "malformed lengths are errors from decode_all/decode_next and ArgumentError from decode" do
    short = <<8::native-32, 1::native-16, 0::native-16, 0::64>>
    over = <<64::native-32, 1::native-16, 0::native-16, 0::64>>
    assert {:error, :bad_length} = Message.decode_all(short)
    assert {:error, :overrun} = Message.decode_all(over)
    assert_raise ArgumentError, fn -> Message.decode(over) end
    assert {:ok, []} = Message.decode_all(<<1, 2, 3>>)
  end

  test "attributes: golden bytes, padding, flag bits kept, 16-bit bound enforced" do
    assert Attr.encode([{3, "ab"}]) == <<6::native-16, 3::native-16, "ab", 0, 0>>
    assert Attr.decode(<<4::native-16, 0x8012::native-16>>) == [{0x8012, ""}]
    assert Attr.type_id(0x8012) == 0x12

    assert_raise ArgumentError, ~r/16-bit/, fn ->
      Attr.encode([{1, :binary.copy(<<0>>, 65_532)}])
    end

    assert {:error, :bad_length} = Attr.parse(<<2::native-16, 1::native-16>>)
    assert {:error, :bad_length} = Attr.parse(<<12::native-16, 1::native-16, 0>>)
    assert_raise ArgumentError, fn -> Attr.decode(<<12::native-16, 1::native-16, 0>>) end
  end

  test "seeded random round trips of messages and attributes" do
    :rand.seed(:exsss, {ExUnit.configuration()[:seed], 7, 11})

    for _ <- 1..2_000 do
      attrs =
        for _ <- 1..:rand.uniform(6),
            do: {:rand.uniform(0xFFFF + 1) - 1, :crypto.strong_rand_bytes(:rand.uniform(40) - 1)}

      assert Attr.decode(Attr.encode(attrs)) == attrs

      msgs =
        for _ <- 1..:rand.uniform(4) do
          %Message{
            type: :rand.uniform(0xFFFF + 1) - 1,
            flags: :rand.uniform(0xFFFF + 1) - 1,
            seq: :rand.uniform(0xFFFFFFFF + 1) - 1,
            pid: :rand.uniform(0xFFFFFFFF + 1) - 1,
            payload: Attr.encode(attrs)
          }
        end

      assert Message.decode(IO.iodata_to_binary(Enum.map(msgs, &Message.encode/1))) == msgs
    end
  end

  test "random garbage never makes decode_all or Attr.parse raise" do
    :rand.seed(:exsss, {ExUnit.configuration()[:seed], 3, 5})

    for _ <- 1..5_000 do
      bin = :crypto.strong_rand_bytes(:rand.uniform(80))

      assert match?({:ok, _}, Message.decode_all(bin)) or
               match?({:error, _}, Message.decode_all(bin))

      assert match?({:ok, _}, Attr.parse(bin)) or match?({:error, _}, Attr.parse(bin))
    end
  end
end
