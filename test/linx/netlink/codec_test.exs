defmodule Linx.Netlink.CodecTest do
  use ExUnit.Case, async: true

  alias Linx.Netlink.Attr

  defmodule Inner do
    use Linx.Netlink.Codec

    codec do
      attr 1, :x, :u16
    end
  end

  defmodule Sample do
    use Linx.Netlink.Codec

    @subs %{"inner" => Inner}

    codec do
      header do
        field :family, :u8
        pad 3
        field :index, :s32
      end

      attr 1, :name, :string
      attr 2, :mtu, :u32
      attr 3, :port, :be16
      attr 4, :on, :flag
      attr 5, :kind, :string
      attr 6, :data, {:dispatch, :kind, @subs}
      attr 7, :names, {:nested_list, 9, :string}
      attr 8, :mac, Linx.MAC
      attr 10, :big, :s64
    end
  end

  test "generated struct defaults: header fields 0, attributes nil" do
    assert %Sample{family: 0, index: 0, name: nil, data: nil} = %Sample{}
    assert %{module: Sample, header: [_ | _], attrs: attrs} = Sample.__codec__()
    assert {6, :data, {:dispatch, :kind, %{"inner" => Inner}}} in attrs
  end

  test "golden encoding: header, padding, attributes in declaration order, nil omitted" do
    value = %Sample{family: 2, index: -1, name: "lo", port: 4789, on: true}

    assert Sample.encode(value) ==
             <<2, 0, 0, 0, -1::native-signed-32>> <>
               Attr.encode([{1, "lo\0"}, {3, <<4789::16>>}, {4, ""}])
  end

  test "round trip including dispatch, nested lists and module types" do
    value = %Sample{
      family: 10,
      index: 7,
      name: "eth0",
      mtu: 9000,
      port: 1,
      on: true,
      kind: "inner",
      data: %Inner{x: 5},
      names: ["a", "bb"],
      mac: %Linx.MAC{bytes: <<2, 0, 0, 0, 0, 1>>},
      big: -5
    }

    assert Sample.decode(Sample.encode(value)) == value
  end

  test "decoding tolerates what the kernel (or a fuzzer) may send" do
    header = <<2, 0, 0, 0, 3::native-32>>
    # short header: header fields nil, no crash
    assert %Sample{family: nil, index: nil} = Sample.decode(<<1, 2>>)
    # short scalar -> nil; undeclared attr skipped; first of repeated wins; flag bits ignored
    attrs =
      Attr.encode([
        {2, <<1, 2>>},
        {99, "x"},
        {1, "first\0"},
        {1, "second\0"},
        {0x8000 ||| 7, Attr.encode([{9, "n\0"}])}
      ])

    assert %Sample{mtu: nil, name: "first", names: ["n"]} = Sample.decode(header <> attrs)
    # a dispatch key without a codec keeps raw bytes
    assert %Sample{kind: "other", data: "raw"} =
             Sample.decode(header <> Attr.encode([{5, "other\0"}, {6, "raw"}]))

    # a dispatch value before its key is still resolved
    assert %Sample{data: %Inner{x: 1}} =
             Sample.decode(
               header <> Attr.encode([{6, Attr.encode([{1, <<1::native-16>>}])}, {5, "inner\0"}])
             )

    # a MAC of the wrong length decodes to nil rather than crashing
    assert %Sample{mac: nil} = Sample.decode(header <> Attr.encode([{8, <<1, 2, 3>>}]))
    # a broken attribute length stops the walk, keeping what came before
    assert %Sample{name: "ok"} =
             Sample.decode(
               header <> Attr.encode([{1, "ok\0"}]) <> <<200::native-16, 2::native-16>>
             )
  end

  test "encoding a wrong value raises ArgumentError naming the field" do
    assert_raise ArgumentError, ~r/Sample.mtu.*0..4294967295.*-1/, fn ->
      Sample.encode(%Sample{mtu: -1})
    end

    assert_raise ArgumentError, ~r/Sample.index/, fn -> Sample.encode(%Sample{index: "x"}) end
    assert_raise ArgumentError, ~r/Sample.name/, fn -> Sample.encode(%Sample{name: "a\0b"}) end
    assert_raise ArgumentError, ~r/Sample.on/, fn -> Sample.encode(%Sample{on: 1}) end

    assert_raise ArgumentError, ~r/Sample.data/, fn ->
      Sample.encode(%Sample{kind: "nope", data: %Inner{}})
    end
  end

  test "10,000 random buffers through a generated decoder never raise" do
    :rand.seed(:exsss, {ExUnit.configuration()[:seed], 9, 9})

    for _ <- 1..10_000 do
      bin = :crypto.strong_rand_bytes(:rand.uniform(64))
      assert %Sample{} = Sample.decode(bin)
    end
  end

  defp a ||| b, do: Bitwise.bor(a, b)
end
